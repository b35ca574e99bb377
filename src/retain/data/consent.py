"""Marketing consent as it changes: an unsubscribe recorded the moment it happens.

A users file sets ``users.marketing_consent`` in bulk. Between files, an
email provider's webhook or the shop's preference page reports each change
(``PUT /v1/users/{id}/marketing-consent``). Every change is kept in
``consent_log`` (who, what, when it happened, when Retain learned of it,
from where), so a shop can show when a customer opted out; the customer's
``users.marketing_consent`` is then set to the latest change *by when it
happened*. A webhook retried or delivered late therefore cannot undo a
newer opt-out; changes at the same instant are settled by arrival.

With PostgreSQL for several replicas the log lives there too
(:mod:`retain.serve.operational`), and :func:`apply_changes` copies it into
the embedded store before a campaign is planned and on ``retain
pull-events``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb

from retain.data.store import Store
from retain.data.user_ids import canonical_user_id, fold_email_id
from retain.errors import InvalidInputError
from retain.privacy import erased_at

__all__ = [
    "CONSENT_DDL",
    "CONSENT_LOG",
    "LATEST_FIRST",
    "ConsentChange",
    "ConsentState",
    "apply_changes",
    "consent_history",
    "consent_view",
    "history_entry",
    "record_consent",
    "stored_consent",
]

CONSENT_LOG = "consent_log"
CONSENT_DDL = f"""CREATE TABLE IF NOT EXISTS {CONSENT_LOG} (
  change_id VARCHAR PRIMARY KEY,
  user_id VARCHAR NOT NULL,
  marketing_consent BOOLEAN NOT NULL,
  changed_at TIMESTAMP NOT NULL,
  received_at TIMESTAMP NOT NULL,
  source VARCHAR
)"""
#: Newest first by when the change happened, then by when it arrived.
LATEST_FIRST = "changed_at DESC, received_at DESC, change_id DESC"
_MAX_SOURCE = 200


@dataclass(frozen=True)
class ConsentChange:
    """One reported change, validated; ``changed_at`` and ``received_at`` are naive UTC."""

    change_id: str
    user_id: str
    marketing_consent: bool
    changed_at: dt.datetime
    received_at: dt.datetime
    source: str | None

    @classmethod
    def new(
        cls,
        user_id: str,
        marketing_consent: bool,
        *,
        changed_at: dt.datetime | None = None,
        source: str | None = None,
        future_tolerance_seconds: float = 300.0,
        now: dt.datetime | None = None,
    ) -> ConsentChange:
        """A change received now; ``changed_at`` defaults to now (the webhook's own time wins).

        Raises:
            InvalidInputError: an empty or over-long id or source, a
                ``changed_at`` without a time zone, or one in the future
                (it would outrank every later change).
        """
        user_id = canonical_user_id(user_id)
        received = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
        if changed_at is None:
            happened = received
        elif changed_at.tzinfo is None:
            raise InvalidInputError(
                f"changed_at: {changed_at.isoformat()} has no time zone; "
                "add one (2026-12-07T10:00:00Z)"
            )
        else:
            try:
                happened = changed_at.astimezone(dt.UTC).replace(tzinfo=None)
            except OverflowError:  # year 1 at -05:00 has no UTC
                raise InvalidInputError(
                    f"changed_at: {changed_at.isoformat()} is out of range"
                ) from None
        if (happened - received).total_seconds() > future_tolerance_seconds:
            raise InvalidInputError(
                f"changed_at: {happened.isoformat()} UTC is in the future "
                f"(now {received.isoformat(timespec='seconds')} UTC)"
            )
        if source is not None and len(source) > _MAX_SOURCE:
            raise InvalidInputError(
                f"source: at most {_MAX_SOURCE} characters, got {len(source):,}"
            )
        return cls(uuid.uuid4().hex, user_id, bool(marketing_consent), happened, received, source)

    def row(self) -> tuple[Any, ...]:
        """The ``consent_log`` row, in column order."""
        return (
            self.change_id,
            self.user_id,
            self.marketing_consent,
            self.changed_at,
            self.received_at,
            self.source,
        )


@dataclass(frozen=True)
class ConsentState:
    """A customer's consent after a change: the latest change, and whether it was this one."""

    user_id: str
    marketing_consent: bool
    changed_at: dt.datetime
    applied: bool


def record_consent(store: Store, change: ConsentChange) -> ConsentState:
    """Log ``change`` and set the customer's consent to their latest change, in one transaction.

    Raises:
        InvalidInputError: the customer was erased on request after the
            change happened (storing it would bring them back).
    """
    states = apply_changes(store, [change.row()], report_on=change.change_id)
    if not states:
        raise InvalidInputError(
            f"customer {change.user_id!r} was erased on request after this change "
            f"({change.changed_at.isoformat()} UTC); it is not stored"
        )
    return states[0]


def apply_changes(
    store: Store, rows: Iterable[Sequence[Any]], *, report_on: str | None = None
) -> list[ConsentState]:
    """Add ``consent_log`` rows (a row already there is skipped) and bring each named
    customer's ``users.marketing_consent`` to their latest change, in one transaction.

    A customer without a profile gets one holding only the consent. A change
    from before the customer was erased on request is skipped. Returns the
    state of every customer named; ``applied`` says whether the change
    ``report_on`` (or, without it, any change in ``rows``) is their latest.
    """
    rows = [tuple(r) for r in rows]
    erased = erased_at(store.connection, sorted({str(r[1]) for r in rows}))
    rows = [r for r in rows if not (str(r[1]) in erased and r[3] < erased[str(r[1])])]
    if not rows:
        return []
    with store.transaction() as con:
        con.execute(CONSENT_DDL)
        con.executemany(f"INSERT OR IGNORE INTO {CONSENT_LOG} VALUES (?, ?, ?, ?, ?, ?)", rows)
        users = sorted({str(r[1]) for r in rows})
        latest = _latest(con, users)
        con.executemany(
            "INSERT INTO users (user_id, marketing_consent) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET marketing_consent = excluded.marketing_consent",
            [(u, latest[u][1]) for u in users],
        )
    given = {str(r[0]) for r in rows} if report_on is None else {report_on}
    return [ConsentState(u, bool(latest[u][1]), latest[u][2], latest[u][0] in given) for u in users]


def _latest(
    con: duckdb.DuckDBPyConnection, users: list[str]
) -> dict[str, tuple[str, bool, dt.datetime]]:
    """``user_id -> (change_id, consent, changed_at)`` of each customer's latest change."""
    found = con.execute(
        f"SELECT user_id, change_id, marketing_consent, changed_at FROM {CONSENT_LOG} "
        f"WHERE user_id IN (SELECT unnest(?)) "
        f"QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY {LATEST_FIRST}) = 1",
        [users],
    ).fetchall()
    return {str(u): (str(c), bool(v), t) for u, c, v, t in found}


def stored_consent(store: Store, user_id: str) -> bool | None:
    """The consent campaigns read for the customer: from a users file or the latest change;
    ``None`` when not known (or an older store without the column)."""
    if not store.has_table("users") or "marketing_consent" not in store.columns("users"):
        return None
    found = store.execute(
        "SELECT marketing_consent FROM users WHERE user_id = ?", [user_id]
    ).fetchall()
    return found[0][0] if found else None


class SharedLog(Protocol):
    """The consent log several replicas share (:class:`retain.serve.operational.PostgresStore`)."""

    def consent_history(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]: ...


def consent_view(
    store: Store, user_id: str, shared: SharedLog | None = None
) -> tuple[bool | None, list[dict[str, Any]]]:
    """The customer's consent and logged changes (newest first), as the API and CLI show them.

    With a ``shared`` log the history is read there, and its latest change is
    the consent: a campaign pulls those changes in before it plans. An id
    shaped like an e-mail address is read folded, as it is stored.
    """
    user_id = fold_email_id(user_id)
    current = stored_consent(store, user_id)
    if shared is None:
        return current, consent_history(store, user_id)
    history = shared.consent_history(user_id)
    return (history[0]["marketing_consent"] if history else current), history


def consent_history(store: Store, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The customer's logged changes, newest first (empty when none was reported)."""
    if not store.has_table(CONSENT_LOG):
        return []
    rows = store.execute(
        f"SELECT marketing_consent, changed_at, received_at, source FROM {CONSENT_LOG} "
        f"WHERE user_id = ? ORDER BY {LATEST_FIRST} LIMIT ?",
        [user_id, limit],
    ).fetchall()
    return [history_entry(*r) for r in rows]


def history_entry(
    consent: bool, changed_at: dt.datetime, received_at: dt.datetime, source: str | None
) -> dict[str, Any]:
    """One logged change as the API shows it (times in UTC, ``Z``)."""
    return {
        "marketing_consent": bool(consent),
        "changed_at": _utc(changed_at),
        "received_at": _utc(received_at),
        "source": source,
    }


def _utc(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat() + "Z"
