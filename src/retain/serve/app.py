"""The dashboard: server-rendered pages with Plotly charts, served by FastAPI.

Each request opens the store read-only and closes it, so ``retain run`` or
``retain train`` can write between requests; a store that is busy being
written gives a page saying so rather than an error. Plotly's JavaScript is
served from the installed ``plotly`` package: the pages load nothing from the
internet.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from retain.assistant.responder import LLMBackend
from retain.assistant.service import build_assistant
from retain.config import Settings, get_settings
from retain.data.store import Store
from retain.errors import NotFoundError, StoreLockedError
from retain.serve import pages

__all__ = ["create_app"]

_NAV = (
    ("/", "Overview"),
    ("/cohorts", "Cohorts"),
    ("/at-risk", "At-risk customers"),
    ("/segments", "Segments"),
    ("/experiments", "Experiments"),
    ("/recommendations", "Recommendations"),
    ("/reviews", "Reviews"),
)


_WRITE_LOCK = threading.Lock()


class ChatRequest(BaseModel):
    """One customer message; ``conversation_id`` continues a conversation."""

    message: str = Field(max_length=200_000)
    conversation_id: str | None = Field(None, max_length=100)


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def create_app(settings: Settings | None = None) -> FastAPI:
    """The dashboard app for the store named by ``settings`` (default: the environment)."""
    config = settings or get_settings()
    app = FastAPI(title="Retain dashboard", docs_url=None, redoc_url=None)
    folder = resources.files("retain.serve") / "templates"
    templates = Jinja2Templates(directory=str(folder))
    templates.env.filters["pct"] = lambda v: f"{v:.1%}"
    templates.env.filters["money"] = lambda v: f"{v:,.2f}"

    @contextmanager
    def store() -> Iterator[Store]:
        # One process cannot hold the file read-only and writable at once: pages
        # wait while a chat turn writes.
        with _WRITE_LOCK:
            opened = Store.open(config.resolved_store_url, read_only=True)
            try:
                yield opened
            finally:
                opened.close()

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(
            request, name, {"nav": _NAV, "path": request.url.path, **context}, status_code=status
        )

    def page(request: Request, name: str, build: Any, *args: Any) -> Response:
        try:
            with store() as opened:
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
            return render(
                request,
                "message.html",
                status=503,
                title="Busy",
                message="The store is being written (a load or a training run); "
                "reload in a moment.",
            )
        if data is None:
            return render(
                request, "message.html", status=404, title="Not found", message="No such customer."
            )
        return render(request, name, **data)

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        return page(request, "overview.html", pages.overview_page)

    @app.get("/cohorts", response_class=HTMLResponse)
    def cohorts(request: Request, period: str = "month") -> Response:
        if period not in ("month", "week"):
            return render(
                request,
                "message.html",
                status=400,
                title="Bad period",
                message=f"period must be month or week, not {period!r}.",
            )
        return page(request, "cohorts.html", pages.cohorts_page, period)

    @app.get("/at-risk", response_class=HTMLResponse)
    def at_risk(request: Request) -> Response:
        return page(request, "at_risk.html", pages.at_risk_page)

    @app.get("/segments", response_class=HTMLResponse)
    def segments(request: Request) -> Response:
        return page(request, "segments.html", pages.segments_page)

    @app.get("/experiments", response_class=HTMLResponse)
    def experiments(request: Request) -> Response:
        return page(request, "experiments.html", pages.experiments_page)

    @app.get("/recommendations", response_class=HTMLResponse)
    def recommendations(request: Request, user: str | None = None) -> Response:
        return page(request, "recommendations.html", pages.recommendations_page, user or None)

    @app.get("/reviews", response_class=HTMLResponse)
    def reviews(request: Request) -> Response:
        return page(request, "reviews.html", pages.reviews_page)

    @app.get("/customers/{user_id:path}", response_class=HTMLResponse)
    def customer(request: Request, user_id: str) -> Response:
        return page(request, "customer.html", pages.customer_page, user_id)

    @app.post("/customers/{user_id:path}/chat")
    def customer_chat(user_id: str, body: ChatRequest) -> JSONResponse:
        """The assistant preview on a customer's page: it acts for that customer only."""
        try:
            with _WRITE_LOCK, Store.open(config.resolved_store_url) as opened:
                bot = build_assistant(
                    opened,
                    config.models_dir,
                    knowledge_encoder=config.assistant.knowledge_encoder,
                    llm=LLMBackend.from_config(config.assistant),
                )
                reply = bot.reply(user_id, body.message, body.conversation_id)
        except NotFoundError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)
        except StoreLockedError:
            return JSONResponse(
                {"detail": "The store is being written; try again in a moment."}, status_code=503
            )
        return JSONResponse(
            {
                "conversation_id": reply.conversation_id,
                "text": reply.text,
                "intent": reply.intent,
                "citations": reply.citations,
                "handed_off": reply.handed_off,
            }
        )

    @app.get("/static/plotly.min.js")
    def plotly_js() -> Response:
        return Response(
            _plotly_js(),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/healthz", response_class=PlainTextResponse)
    def health() -> str:
        return "ok"

    return app
