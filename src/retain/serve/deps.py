"""What every ``/v1`` route shares: authentication by role, the customer id of a
path, mapping errors onto 4xx and 503 answers, and JSON-ready values.

Errors are JSON ``{"detail": ...}`` with the matching 4xx; the service never
answers a client's mistake with a 5xx.
"""

import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from retain.data.user_ids import canonical_user_id
from retain.errors import InvalidInputError, NotFoundError, StoreError, StoreLockedError
from retain.serve.keys import ApiKey, Role, allows
from retain.serve.live import LiveModel
from retain.serve.state import ServiceState

#: Where the versioned API lives. Each router module takes it itself, so a route's
#: ``path`` (what ``/metrics`` counts requests by) is the whole template.
API_PREFIX = "/v1"

_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key: rtn_…")
#: The ``Authorization: Bearer`` credential: an API key, or a customer token on the chat route.
BEARER = HTTPBearer(auto_error=False, description="An API key, or a customer token for chat")


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    """An error answer: FastAPI turns it into JSON ``{"detail": detail}`` with ``status``."""
    return HTTPException(status_code=status, detail=detail, headers=headers)


async def _authenticate(
    request: Request,
    api_key: Annotated[str | None, Security(_API_KEY)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
) -> ApiKey:
    state: ServiceState = request.app.state.retain
    presented = api_key or (bearer.credentials if bearer is not None else None)
    if not presented:
        raise problem(
            401,
            "an API key is required: send it in the X-API-Key header",
            {"WWW-Authenticate": "Bearer"},
        )
    key = state.keys.check(presented)
    if key is None:
        raise problem(
            401, "this API key is not valid (unknown or revoked)", {"WWW-Authenticate": "Bearer"}
        )
    wait = state.limiter.take(key.key_id, key.rate_per_second)
    if wait > 0:
        raise problem(
            429,
            f"rate limit of {key.rate_per_second:g} requests/s for key {key.key_id} reached",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key


def _needs(role: Role) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    # async: FastAPI runs a plain function dependency on a worker thread, which
    # costs more than the check itself on the hot path.
    async def check(key: Annotated[ApiKey, Depends(_authenticate)]) -> ApiKey:
        if not allows(key.role, role):
            raise problem(403, f"this needs a key with the {role} role; this one is {key.role}")
        return key

    return check


ReadKey = Annotated[ApiKey, Depends(_needs("read"))]
IngestKey = Annotated[ApiKey, Depends(_needs("ingest"))]
AdminKey = Annotated[ApiKey, Depends(_needs("admin"))]


async def _customer_id(user_id: Annotated[str, Path()]) -> str:
    """The ``{user_id}`` of a path as the store keeps it (an e-mail address lower-cased)."""
    try:
        return canonical_user_id(user_id)
    except InvalidInputError as exc:
        raise problem(422, f"user_id: {exc}") from None


#: A ``{user_id}`` path parameter, folded like every stored customer id, so
#: ``/v1/users/Ann@Shop.com/scores`` finds ``ann@shop.com``.
CustomerId = Annotated[str, Depends(_customer_id)]


@contextmanager
def client_errors() -> Iterator[None]:
    """Maps what a request asked wrongly onto 422 (bad input) and 404 (no such thing)."""
    try:
        yield
    except InvalidInputError as exc:
        raise problem(422, str(exc)) from None
    except NotFoundError as exc:
        raise problem(404, str(exc)) from None


@contextmanager
def store_errors() -> Iterator[None]:
    """Maps a busy or missing store onto 503 answers."""
    try:
        yield
    except StoreLockedError:
        raise problem(
            503, "the store is busy (a training run); retry", {"Retry-After": "2"}
        ) from None
    except NotFoundError as exc:
        raise problem(503, str(exc)) from None
    except StoreError as exc:
        raise problem(503, f"{exc}; retry", {"Retry-After": "2"}) from None


def finite(values: dict[str, Any]) -> dict[str, Any]:
    """A flat dict with NaN and infinities as None (JSON has no such numbers)."""
    return {k: plain(v) for k, v in values.items()}


def plain(value: Any) -> Any:
    """A JSON-ready copy of one pandas cell (NaN -> None, timestamps -> ISO text)."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:
        value = value.tolist()  # a list column (pandas may hand it over as an array)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return plain(value.item())
    return value


def serving_model(live: LiveModel[Any]) -> tuple[str, Any]:
    """The (version, model) ``live`` serves; 503 with the command to run when none is trained."""
    current = live.serving
    if current is None:
        hint = f"retain train {live.kind}"
        raise problem(503, f"no {live.kind} model is trained yet; run `{hint}`")
    return current
