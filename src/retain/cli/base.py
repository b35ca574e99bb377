"""What every command shares: the typer apps, the consoles, opening the store,
parsing options, and turning known errors into one line (:func:`main`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from retain.config import Settings, get_settings
from retain.currency import format_money
from retain.data.store import Store
from retain.errors import RetainError

if TYPE_CHECKING:  # the intent model's stack loads only for commands that use it
    from retain.assistant.intents import IntentSettings

__all__ = ["app", "main"]

app = typer.Typer(
    help="Retain: user retention for e-commerce. Start with `retain run`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks that write a JSON of metrics.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
train_app = typer.Typer(help="Train a capability's model on the store.", no_args_is_help=True)
app.add_typer(train_app, name="train")
keys_app = typer.Typer(help="API keys of the service (shown once when made).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
models_app = typer.Typer(
    help="Stored model versions: list, promote, roll back.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


# soft_wrap: lines stay whole when piped into logs instead of breaking at 80 columns.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class CommandError(Exception):
    """Raised inside commands to exit with one clear line."""


@contextmanager
def open_store(settings: Settings, *, read_only: bool = False) -> Iterator[Store]:
    store = Store.open(settings.resolved_store_url, read_only=read_only)
    try:
        yield store
    finally:
        store.close()


def money(amount: float) -> str:
    """An amount in the shop's currency (the ``currency`` setting), as a team reads it."""
    return format_money(amount, get_settings().currency)


def write_json(result: dict[str, Any], json_out: Path | None) -> None:
    text = json.dumps(result, indent=2, default=str)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")
    out.print_json(text)


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date like 1997-09-30; got {value!r}") from None


AsOfOption = Annotated[str | None, typer.Option(help="Last day counted (default: last order).")]


def read_as_of(
    as_of: str | None, *builds: Callable[[Any, date], Any], fetch: bool = True
) -> tuple[date, list[Any]]:
    """Open the store read-only, settle the day, and fetch each ``build(tables, day)``.

    With ``fetch=False`` the builds return frames themselves.
    """
    from retain.data.summary import last_order_day
    from retain.features.customer import FeatureTables

    with open_store(get_settings(), read_only=True) as store:
        day = parse_day(as_of, "--as-of") or last_order_day(store)
        tables = FeatureTables.from_store(store)
        built = [build(tables, day) for build in builds]
        return day, [tables.fetch(b) for b in built] if fetch else built


MovedFromOption = Annotated[
    str | None,
    typer.Option(
        help="Only customers who were in this RFM segment --moves days (default: the "
        "dashboard's window, 30) before the last order ('not a customer yet': first-time "
        "buyers since)."
    ),
]


def llm_backend(settings: Settings) -> Any:
    """The configured OpenAI-compatible backend, or None (templates only)."""
    from retain.assistant.responder import LLMBackend

    return LLMBackend.from_config(settings.assistant)


def operational_store(settings: Settings) -> Any:
    """The operational PostgreSQL store when one is configured, else None."""
    url = settings.service.operational_url
    if url is None:
        return None
    from retain.serve.operational import PostgresStore

    return PostgresStore(url.get_secret_value())


def intent_settings(settings: Settings) -> IntentSettings:
    """The intent model's settings from the ``assistant`` section."""
    from retain.assistant.intents import IntentSettings

    return IntentSettings(encoder=settings.assistant.intent_encoder)


def main() -> None:
    """Entry point: run the app, turning Retain's errors into one line and exit 1.

    Usage mistakes are typer's to report (exit 2); anything else is a bug and
    keeps its traceback.
    """
    try:
        app()
    except (RetainError, CommandError) as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(1)
