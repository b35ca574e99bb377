"""The ``/v1`` REST API: one router module per resource, thin routes over the
capability packages.

Authentication: an API key in ``X-API-Key`` (or ``Authorization: Bearer``)
with a role (``read``, ``ingest``, ``admin``) and a request rate; the chat
endpoint takes a customer token instead (``Authorization: Bearer``), minted
by an admin key, and acts for that customer only. Errors are JSON
``{"detail": ...}`` with the matching 4xx; the service never answers a
client's mistake with a 5xx.

The hot paths (recommendations, similar items) answer from the model held in
memory and never touch the store; ``POST /v1/events`` commits through the
same validated, idempotent ingestion as ``retain ingest`` and feeds accepted
events into the serving recommender at once, so the next answer reflects
them without a retrain.
"""

from fastapi import APIRouter

from retain.serve.routes import (
    assistant,
    campaigns,
    customers,
    events,
    models,
    recommendations,
    reviews,
    segments,
)
from retain.serve.state import ServiceState

__all__ = ["api_router"]


def api_router(state: ServiceState) -> APIRouter:
    """The ``/v1`` routes over ``state``."""
    api = APIRouter()
    for module in (
        events,
        recommendations,
        customers,
        reviews,
        assistant,
        campaigns,
        segments,
        models,
    ):
        api.include_router(module.router(state))
    return api
