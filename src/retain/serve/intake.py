"""Event intake for ``POST /v1/events``: one result shape, two stores.

With the embedded store the batch goes through :func:`retain.data.ingest.ingest_arrow`
into the DuckDB file; with an operational PostgreSQL it is validated the same
way and committed there (:mod:`retain.serve.operational`), so every replica
shares it. Either way the caller learns, per record, what happened, and which
newly stored events the serving recommender should see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retain.data.ingest import IngestReport, ingest_arrow
from retain.data.sources import records_to_arrow
from retain.data.store import Store

if TYPE_CHECKING:
    from retain.serve.state import ServiceState

__all__ = ["EventIntake", "ingest_batch", "intake_events"]


@dataclass(frozen=True)
class EventIntake:
    """What one batch did. ``fresh``: (user, item, event type) of newly stored events;
    ``erased``: events of customers erased on request, from before the erase, not stored."""

    received: int
    accepted: int
    duplicates: int
    quarantined: int
    errors: list[tuple[int, str]]
    ignored_fields: list[str]
    fresh: list[tuple[str, str | None, str]]
    erased: int = 0


def intake_events(
    state: ServiceState, records: Sequence[Mapping[str, Any]], source: str
) -> EventIntake:
    """Validate and commit ``records`` into the service's event store."""
    settings = state.config.ingest
    if state.ops is not None:
        return state.ops.ingest_events(
            records,
            source,
            future_tolerance_seconds=settings.future_tolerance_seconds,
            max_text_chars=settings.max_text_chars,
            currency=state.config.currency,
            claim=state.replica.claim if state.replica is not None else None,
        )
    explicit = [str(r["event_id"]) for r in records if r.get("event_id") is not None]
    with state.write_store() as store:
        known = _existing(store, explicit)
        report = ingest_batch(
            store,
            records,
            source,
            future_tolerance_seconds=settings.future_tolerance_seconds,
            max_text_chars=settings.max_text_chars,
            currency=state.config.currency,
        )
        errors = store.execute(
            "SELECT line - 1, reason FROM quarantine WHERE source = ? ORDER BY line", [source]
        ).fetchall()
        # Events with an id the store did not hold before: only they are new to the model.
        fresh = _stored(store, [e for e in dict.fromkeys(explicit) if e not in known])
    return EventIntake(
        received=report.rows,
        accepted=report.accepted,
        duplicates=report.duplicates,
        quarantined=report.quarantined,
        errors=[(int(i), str(r)) for i, r in errors],
        ignored_fields=list(report.ignored_columns),
        fresh=fresh,
        erased=report.erased,
    )


def ingest_batch(
    store: Store,
    records: Sequence[Mapping[str, Any]],
    source: str,
    *,
    future_tolerance_seconds: int,
    max_text_chars: int,
    currency: str | None = None,
) -> IngestReport:
    """One API batch through the shared ingestion (records numbered from 1 as lines)."""
    return ingest_arrow(
        store,
        "events",
        records_to_arrow([(i + 1, r) for i, r in enumerate(records)]),
        source=source,
        format="api",
        future_tolerance_seconds=future_tolerance_seconds,
        max_text_chars=max_text_chars,
        currency=currency,
    )


def _existing(store: Store, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    rows = store.execute(
        "SELECT event_id FROM events WHERE event_id IN (SELECT unnest(?))", [ids]
    ).fetchall()
    return {r[0] for r in rows}


def _stored(store: Store, ids: list[str]) -> list[tuple[str, str | None, str]]:
    if not ids:
        return []
    rows = store.execute(
        "SELECT user_id, item_id, event_type FROM events WHERE event_id IN (SELECT unnest(?)) "
        "ORDER BY ts",
        [ids],
    ).fetchall()
    return [(str(u), i, str(t)) for u, i, t in rows]
