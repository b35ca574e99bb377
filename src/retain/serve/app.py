"""The service: the ``/v1`` REST API and the dashboard, in one FastAPI app.

Each request that needs the store opens it and closes it, so ``retain run``
or ``retain train`` can write between requests; a store that is busy being
written gives a page (or a 503) saying so rather than an error. Models are
held in memory and swapped when a new version is promoted
(:mod:`retain.serve.live`). Plotly's JavaScript is served from the installed
``plotly`` package: the pages load nothing from the internet. The OpenAPI
spec is at ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

import pandas as pd
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from retain.assistant.tools import AssistantTables
from retain.config import Settings, get_settings
from retain.currency import format_money
from retain.data.store import Store
from retain.errors import NotFoundError, StoreError, StoreLockedError
from retain.retention.campaign import campaign_rows
from retain.retention.members import segment_members
from retain.retention.segments import MOVES_DAYS
from retain.serve import pages
from retain.serve.metrics import BodyLimit, RequestMetrics
from retain.serve.routes import api_router
from retain.serve.routes.assistant import customer_reply
from retain.serve.routes.models import metrics_text
from retain.serve.schemas import ChatIn, ChatOut
from retain.serve.state import ServiceState

__all__ = ["create_app"]

_NAV = (
    ("/", "Overview"),
    ("/cohorts", "Cohorts"),
    ("/at-risk", "At-risk customers"),
    ("/segments", "Segments"),
    ("/campaigns", "Campaigns"),
    ("/experiments", "Experiments"),
    ("/recommendations", "Recommendations"),
    ("/reviews", "Reviews"),
    ("/handoffs", "Hand-offs"),
    ("/unanswered", "Unanswered"),
)


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service for the store named by ``settings`` (default: the environment)."""
    config = settings or get_settings()
    state = ServiceState.create(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(
        title="Retain",
        version="1",
        description="Recommendations, behaviour scores, review sentiment, the customer-service "
        "assistant and event intake for one shop.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.retain = state
    app.include_router(api_router(state))
    app.add_middleware(BodyLimit, max_bytes=config.service.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    folder = resources.files("retain.serve") / "templates"
    templates = Jinja2Templates(directory=str(folder))
    templates.env.filters["pct"] = lambda v: f"{v:.1%}"
    templates.env.filters["money"] = lambda v: format_money(v, config.currency)

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(
            request, name, {"nav": _NAV, "path": request.url.path, **context}, status_code=status
        )

    def busy(request: Request) -> Response:
        return render(
            request,
            "message.html",
            status=503,
            title="Busy",
            message="The store is being written (a load or a training run); reload in a moment.",
        )

    def page(
        request: Request, name: str, build: Any, *args: Any, missing: str = "No such customer."
    ) -> Response:
        try:
            with state.read_store() as opened:
                data = build(opened, *args)
        except NotFoundError:
            return render(
                request,
                "message.html",
                title="No shop yet",
                message="There is no store yet: run `retain run` (the demo shop) or "
                "`retain ingest ...` with your own files.",
            )
        except StoreLockedError:
            return busy(request)
        if data is None:
            return render(request, "message.html", status=404, title="Not found", message=missing)
        return render(request, name, **data)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request) -> Response:
        return page(request, "overview.html", pages.overview_page)

    @app.get("/cohorts", response_class=HTMLResponse, include_in_schema=False)
    def cohorts(request: Request, period: str = "month", by: str = "rfm") -> Response:
        if period not in ("month", "week"):
            return render(
                request,
                "message.html",
                status=400,
                title="Bad period",
                message=f"period must be month or week, not {period!r}.",
            )
        return page(request, "cohorts.html", pages.cohorts_page, period, by, config.currency)

    @app.get("/at-risk", response_class=HTMLResponse, include_in_schema=False)
    def at_risk(request: Request) -> Response:
        return page(request, "at_risk.html", pages.at_risk_page)

    @app.get("/segments", response_class=HTMLResponse, include_in_schema=False)
    def segments(request: Request) -> Response:
        return page(request, "segments.html", pages.segments_page)

    @app.get("/segments/{kind}/{name}", response_class=HTMLResponse, include_in_schema=False)
    def segment(
        request: Request,
        kind: str,
        name: str,
        format: str = "html",
        moved_from: Annotated[str | None, Query(alias="from", max_length=100)] = None,
    ) -> Response:
        if format == "csv":
            return store_guarded(request, lambda: segment_csv(request, kind, name, moved_from))
        return page(
            request,
            "segment.html",
            pages.segment_page,
            kind,
            name,
            moved_from,
            missing="No such segment.",
        )

    def csv_download(
        request: Request, read: Callable[[Store], pd.DataFrame | None], name: str, missing: str
    ) -> Response:
        """``read(store)`` as a CSV attachment named after ``name``; 404 with ``missing``."""
        try:
            with state.read_store() as opened:
                frame = read(opened)
        except NotFoundError:
            frame = None  # no store yet: nothing to download either
        if frame is None:
            return render(request, "message.html", status=404, title="Not found", message=missing)
        filename = "".join(c if c.isalnum() else "-" for c in name)
        return Response(
            frame.to_csv(index=False),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )

    def segment_csv(request: Request, kind: str, name: str, moved_from: str | None) -> Response:
        def members(opened: Store) -> pd.DataFrame | None:
            found = segment_members(opened, kind, name, moved_from=moved_from, days=MOVES_DAYS)
            return None if found is None else found.customers

        return csv_download(request, members, f"segment-{kind}-{name}", "No such segment.")

    @app.get("/campaigns", response_class=HTMLResponse, include_in_schema=False)
    def campaigns(request: Request) -> Response:
        return page(
            request,
            "campaigns.html",
            pages.campaigns_page,
            config.campaign.to_actions(),
            config.campaign.actions is not None,
            config.campaign.require_consent,
        )

    @app.get("/campaigns/{campaign_id}", response_class=HTMLResponse, include_in_schema=False)
    def campaign(request: Request, campaign_id: str, format: str = "html") -> Response:
        if format == "csv":
            return store_guarded(request, lambda: campaign_csv(request, campaign_id))
        return page(
            request, "campaign.html", pages.campaign_page, campaign_id, missing="No such campaign."
        )

    def campaign_csv(request: Request, campaign_id: str) -> Response:
        return csv_download(
            request,
            lambda opened: campaign_rows(opened, campaign_id),
            f"campaign-{campaign_id}",
            "No such campaign.",
        )

    @app.get("/experiments", response_class=HTMLResponse, include_in_schema=False)
    def experiments(request: Request) -> Response:
        return page(request, "experiments.html", pages.experiments_page)

    @app.get("/recommendations", response_class=HTMLResponse, include_in_schema=False)
    def recommendations(request: Request, user: str | None = None) -> Response:
        return page(request, "recommendations.html", pages.recommendations_page, user or None)

    @app.get("/reviews", response_class=HTMLResponse, include_in_schema=False)
    def reviews(request: Request) -> Response:
        served = state.sentiment.serving
        note = served[1].training_note if served is not None else None
        return page(request, "reviews.html", pages.reviews_page, note)

    def store_guarded(request: Request, act: Callable[[], Response]) -> Response:
        """``act()``, or a page saying why a store could not be reached."""
        try:
            return act()
        except StoreLockedError:
            return busy(request)
        except StoreError as exc:
            return render(
                request, "message.html", status=503, title="Unavailable", message=str(exc)
            )

    def with_assistant_tables(
        request: Request, act: Callable[[AssistantTables], Response]
    ) -> Response:
        """``act`` on the assistant's tables (PostgreSQL or the store), or a page saying why not."""

        def run() -> Response:
            with state.assistant_tables() as tables:
                return act(tables)

        return store_guarded(request, run)

    @app.get("/handoffs", response_class=HTMLResponse, include_in_schema=False)
    def handoffs(request: Request) -> Response:
        """The open hand-offs, valuable and at-risk customers first."""
        return store_guarded(
            request,
            lambda: render(
                request,
                "handoffs.html",
                title="Hand-offs",
                handoffs=state.handoff_queue(100, urgent_first=True),
            ),
        )

    @app.get("/unanswered", response_class=HTMLResponse, include_in_schema=False)
    def unanswered(request: Request) -> Response:
        """What customers asked that the knowledge base could not answer: articles to write."""
        return store_guarded(
            request,
            lambda: render(
                request,
                "unanswered.html",
                title="Unanswered questions",
                questions=state.unanswered_questions(200, days=90),
            ),
        )

    @app.post("/handoffs/{handoff_id}/close", include_in_schema=False)
    def close_handoff(request: Request, handoff_id: str) -> Response:
        """The page's Close button; back to the queue, which no longer lists it."""

        def close(tables: AssistantTables) -> Response:
            if tables.close_handoff(handoff_id):
                return RedirectResponse("/handoffs", status_code=303)
            return render(
                request,
                "message.html",
                status=404,
                title="Not found",
                message=f"No open hand-off {handoff_id!r}: it may have been closed already.",
            )

        return with_assistant_tables(request, close)

    @app.get("/customers/{user_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def customer(request: Request, user_id: str) -> Response:
        return page(request, "customer.html", pages.customer_page, user_id)

    @app.post("/customers/{user_id:path}/chat", response_model=ChatOut, include_in_schema=False)
    def customer_chat(user_id: str, body: ChatIn) -> ChatOut:
        """The assistant preview on a customer's page: it acts for that customer only."""
        return ChatOut(**customer_reply(state, user_id, body.message, body.conversation_id))

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        return Response(
            _plotly_js(),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/healthz", response_class=PlainTextResponse, summary="Liveness")
    def health() -> str:
        return "ok"

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    def metrics() -> Response:
        return metrics_text(state)

    return app
