"""The serving models: which version each serves, the stored versions, and
promotion and rollback.
"""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from retain.artifacts import list_versions, promote, rollback
from retain.errors import NotFoundError
from retain.serve.deps import API_PREFIX, AdminKey, ReadKey, client_errors, problem
from retain.serve.live import LiveModel
from retain.serve.schemas import PromoteIn
from retain.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    """The models routes over ``state``."""
    router = APIRouter(prefix=API_PREFIX)

    def live_model(kind: str) -> LiveModel[Any]:
        for live in state.watcher.models:
            if live.kind == kind:
                return live
        known = ", ".join(m.kind for m in state.watcher.models)
        raise problem(404, f"unknown model kind {kind!r}; expected one of: {known}")

    @router.get("/models", summary="Serving model versions, stored versions and refusals")
    def models(_key: ReadKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for live in state.watcher.models:
            current = live.serving
            out[live.kind] = {
                "serving": current[0] if current else None,
                "swaps": live.swaps,
                "loading": live.loading,
                "recent_load_seconds": list(live.load_seconds),
                "refused": (
                    {"version": live.refused.version, "reason": live.refused.reason}
                    if live.refused
                    else None
                ),
                "stored": [
                    {"version": v.version, "current": v.current, "created_at": v.created_at}
                    for v in list_versions(live.root, live.kind)
                ],
            }
        return out

    @router.post("/models/{kind}/promote", summary="Serve a stored version (admin)")
    def promote_model(kind: str, body: PromoteIn, _key: AdminKey) -> dict[str, Any]:
        live = live_model(kind)
        with client_errors():
            promote(live.root, kind, body.version)
        return _swap_outcome(live, body.version)

    @router.post("/models/{kind}/rollback", summary="Serve the previous version (admin)")
    def rollback_model(kind: str, _key: AdminKey) -> dict[str, Any]:
        live = live_model(kind)
        try:
            version = rollback(live.root, kind)
        except NotFoundError as exc:
            raise problem(409, str(exc)) from None
        return _swap_outcome(live, version)

    return router


def _swap_outcome(live: LiveModel[Any], version: str) -> dict[str, Any]:
    live.poll()
    current = live.serving
    refused = live.refused if live.refused and live.refused.version == version else None
    return {
        "kind": live.kind,
        "current": version,
        "serving": current[0] if current else None,
        "refused": refused.reason if refused else None,
    }


def metrics_text(state: ServiceState) -> PlainTextResponse:
    """``/metrics``: request counters and latencies, events, and the serving models."""
    for stale in [g for g in state.metrics.gauges if g[0] == "retain_model_serving"]:
        del state.metrics.gauges[stale]
    for live in state.watcher.models:
        current = live.serving
        labels = f'kind="{live.kind}",version="{current[0] if current else ""}"'
        state.metrics.gauges[("retain_model_serving", labels)] = 1.0 if current else 0.0
        state.metrics.gauges[("retain_model_swaps", f'kind="{live.kind}"')] = live.swaps
        state.metrics.gauges[("retain_model_refused", f'kind="{live.kind}"')] = (
            1.0 if live.refused else 0.0
        )
    return PlainTextResponse(
        state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
