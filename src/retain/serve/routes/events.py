"""``POST /v1/events``: behaviour events in, through the same validated, idempotent
ingestion as ``retain ingest``, and into the serving recommender at once.
"""

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from retain.errors import InvalidInputError, StoreError, StoreLockedError
from retain.serve.deps import API_PREFIX, IngestKey, problem
from retain.serve.intake import intake_events
from retain.serve.schemas import EventBatch, EventsAccepted, RecordError
from retain.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    """The events routes over ``state``."""
    router = APIRouter(prefix=API_PREFIX)

    @router.post(
        "/events",
        response_model=EventsAccepted,
        summary="Add a batch of behaviour events (idempotent by event_id)",
    )
    def post_events(batch: EventBatch, key: IngestKey) -> JSONResponse:
        limit = state.config.service.max_events_per_batch
        if len(batch.events) > limit:
            raise problem(413, f"{len(batch.events):,} events in one batch; the limit is {limit:,}")
        source = f"api/{key.key_id}/{uuid.uuid4().hex}"
        try:
            report = intake_events(state, batch.events, source)
        except StoreLockedError:
            raise problem(
                503, "the store is busy (a training run); retry the batch", {"Retry-After": "2"}
            ) from None
        except StoreError as exc:
            raise problem(503, f"{exc}; retry the batch", {"Retry-After": "2"}) from None
        except InvalidInputError as exc:
            raise problem(422, str(exc)) from None
        state.feed(report.fresh)
        state.metrics.add("retain_events_accepted_total", report.accepted)
        state.metrics.add("retain_events_duplicate_total", report.duplicates)
        state.metrics.add("retain_events_quarantined_total", report.quarantined)
        body = EventsAccepted(
            received=report.received,
            accepted=report.accepted,
            duplicates=report.duplicates,
            quarantined=report.quarantined,
            errors=[RecordError(index=i, reasons=r.split("; ")) for i, r in report.errors],
            ignored_fields=report.ignored_fields,
            erased=report.erased,
        )
        status = 422 if report.quarantined == report.received else 200
        return JSONResponse(body.model_dump(), status_code=status)

    return router
