"""What the assistant can look up and do, for one authenticated customer.

A :class:`CustomerTools` is built with the customer's id by whoever
authenticated them, and every query it runs is filtered by that id. Nothing in
a message can change it: asking for another customer's order gets the same
answer as asking for an order that does not exist.

The shop's data (orders, recommendations) is read from the store. What the
assistant writes itself — conversation state, return requests, hand-offs and
the turn log — goes to :class:`AssistantTables`: the same store by default
(:class:`EmbeddedAssistantTables`), or the operational PostgreSQL when several
service replicas must share conversations
(:class:`retain.serve.operational.PostgresAssistantTables`). Both run the
same SQL through :class:`SqlAssistantTables`.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from retain.data.ingest import ingest_arrow
from retain.data.schemas import stored_or_null
from retain.data.store import Store

__all__ = [
    "ASSISTANT_DDL",
    "ASSISTANT_MIGRATIONS",
    "HANDOFFS_TABLE",
    "RETURN_REQUESTS_TABLE",
    "STATE_TABLE",
    "UNANSWERED_TABLE",
    "AssistantTables",
    "CustomerTools",
    "EmbeddedAssistantTables",
    "OrderInfo",
    "SqlAssistantTables",
    "ensure_tables",
    "question_key",
]

RETURN_REQUESTS_TABLE = "return_requests"
HANDOFFS_TABLE = "handoffs"
STATE_TABLE = "assistant_state"
UNANSWERED_TABLE = "unanswered_questions"

ASSISTANT_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {RETURN_REQUESTS_TABLE} (
        request_id VARCHAR PRIMARY KEY, order_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL,
        conversation_id VARCHAR, requested_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {HANDOFFS_TABLE} (
        handoff_id VARCHAR PRIMARY KEY, conversation_id VARCHAR NOT NULL, user_id VARCHAR,
        reason VARCHAR NOT NULL, last_message VARCHAR, created_at TIMESTAMP NOT NULL,
        closed_at TIMESTAMP)""",
    f"""CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
        conversation_id VARCHAR PRIMARY KEY, user_id VARCHAR NOT NULL, state VARCHAR NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {UNANSWERED_TABLE} (
        question_id VARCHAR PRIMARY KEY, conversation_id VARCHAR NOT NULL, user_id VARCHAR,
        question VARCHAR NOT NULL, question_key VARCHAR NOT NULL, language VARCHAR,
        off_topic BOOLEAN NOT NULL, asked_at TIMESTAMP NOT NULL)""",
)

#: Columns added since a table was first shipped, for stores made before.
ASSISTANT_MIGRATIONS = (
    f"ALTER TABLE {HANDOFFS_TABLE} ADD COLUMN IF NOT EXISTS closed_at TIMESTAMP",
)

#: Order statuses a return can start from.
RETURNABLE = ("completed",)


def ensure_tables(store: Store) -> None:
    """Create the assistant's own tables when they are missing."""
    for ddl in (*ASSISTANT_DDL, *ASSISTANT_MIGRATIONS):
        store.execute(ddl)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def question_key(text: str) -> str:
    """What counts as the same question: case, punctuation (any script) and spacing ignored."""
    kept = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text.casefold())
    return " ".join(kept.split())[:500]


class AssistantTables(ABC):
    """Where the assistant keeps what it writes; every method is scoped by ``user_id``."""

    @abstractmethod
    def load_state(self, conversation_id: str, user_id: str) -> dict[str, Any] | None:
        """The stored state of this customer's conversation; None for another's or a new one."""

    @abstractmethod
    def conversation_taken(self, conversation_id: str, user_id: str) -> bool:
        """True when the id belongs to another customer's conversation."""

    @abstractmethod
    def save_state(self, conversation_id: str, user_id: str, state: dict[str, Any]) -> None: ...

    @abstractmethod
    def returns_requested(self, user_id: str, order_ids: list[str]) -> set[str]:
        """Which of the customer's ``order_ids`` already have a return request."""

    @abstractmethod
    def add_return(self, order_id: str, user_id: str, conversation_id: str) -> str:
        """Record a return request; its id."""

    @abstractmethod
    def add_handoff(
        self, conversation_id: str, user_id: str, reason: str, last_message: str
    ) -> str:
        """Queue a conversation for a person; the hand-off's id."""

    @abstractmethod
    def log_turns(self, turns: pa.Table, source: str) -> None:
        """Append turns in the canonical ``conversations`` fields (a turn already there stays)."""

    @abstractmethod
    def handoffs(
        self, limit: int, *, include_closed: bool = False, handoff_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest hand-offs (or the one ``handoff_id``), each with its conversation's
        turns: the queue a person works."""

    @abstractmethod
    def close_handoff(self, handoff_id: str) -> bool:
        """Mark an open hand-off done; False when there is no open one with that id."""

    @abstractmethod
    def add_unanswered(
        self, conversation_id: str, user_id: str, question: str, language: str, off_topic: bool
    ) -> None:
        """Record a question the knowledge base had no answer for (``question`` masked)."""

    @abstractmethod
    def unanswered(self, limit: int, *, days: int | None = None) -> list[dict[str, Any]]:
        """The questions asked most often without an answer (in the last ``days``),
        one row per wording (case, punctuation and spacing ignored)."""


class SqlAssistantTables(AssistantTables):
    """The SQL both stores run; a subclass says how a statement reaches its database.

    Statements use ``?`` placeholders (DuckDB's); a backend with another
    style translates them in :meth:`run`.
    """

    @abstractmethod
    def run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """Execute one statement; its rows (empty for a statement without a result)."""

    def load_state(self, conversation_id: str, user_id: str) -> dict[str, Any] | None:
        row = self.run(
            f"SELECT state FROM {STATE_TABLE} WHERE conversation_id = ? AND user_id = ?",
            [conversation_id, user_id],
        )
        return json.loads(row[0][0]) if row else None

    def conversation_taken(self, conversation_id: str, user_id: str) -> bool:
        row = self.run(
            f"SELECT count(*) FROM {STATE_TABLE} WHERE conversation_id = ? AND user_id <> ?",
            [conversation_id, user_id],
        )
        return bool(row[0][0])

    def save_state(self, conversation_id: str, user_id: str, state: dict[str, Any]) -> None:
        self.run(
            f"""INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?)
                ON CONFLICT (conversation_id) DO UPDATE
                SET state = excluded.state, updated_at = excluded.updated_at""",
            [conversation_id, user_id, json.dumps(state, ensure_ascii=False), _now()],
        )

    def returns_requested(self, user_id: str, order_ids: list[str]) -> set[str]:
        if not order_ids:
            return set()
        marks = ", ".join("?" * len(order_ids))
        rows = self.run(
            f"SELECT order_id FROM {RETURN_REQUESTS_TABLE} "
            f"WHERE user_id = ? AND order_id IN ({marks})",
            [user_id, *order_ids],
        )
        return {str(r[0]) for r in rows}

    def add_return(self, order_id: str, user_id: str, conversation_id: str) -> str:
        request_id = f"R-{uuid.uuid4().hex[:12]}"
        self.run(
            f"INSERT INTO {RETURN_REQUESTS_TABLE} VALUES (?, ?, ?, ?, ?, 'requested')",
            [request_id, order_id, user_id, conversation_id, _now()],
        )
        return request_id

    def add_handoff(
        self, conversation_id: str, user_id: str, reason: str, last_message: str
    ) -> str:
        handoff_id = f"H-{uuid.uuid4().hex[:12]}"
        self.run(
            f"INSERT INTO {HANDOFFS_TABLE} (handoff_id, conversation_id, user_id, reason, "
            "last_message, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [handoff_id, conversation_id, user_id, reason, last_message[:500], _now()],
        )
        return handoff_id

    def handoffs(
        self, limit: int, *, include_closed: bool = False, handoff_id: str | None = None
    ) -> list[dict[str, Any]]:
        names = (
            "handoff_id", "conversation_id", "user_id", "reason", "last_message", "created_at",
            "closed_at",
        )  # fmt: skip
        where = [] if include_closed else ["closed_at IS NULL"]
        params: list[Any] = []
        if handoff_id is not None:
            where.append("handoff_id = ?")
            params.append(handoff_id)
        rows = self.run(
            f"SELECT {', '.join(names)} FROM {HANDOFFS_TABLE} "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY created_at DESC, handoff_id LIMIT ?",
            [*params, limit],
        )
        turns = self._turns([str(row[1]) for row in rows]) if self.has_turns() else {}
        return [
            {**dict(zip(names, row, strict=True)), "turns": turns.get(str(row[1]), [])}
            for row in rows
        ]

    def close_handoff(self, handoff_id: str) -> bool:
        return bool(
            self.run(
                f"UPDATE {HANDOFFS_TABLE} SET closed_at = ? "
                "WHERE handoff_id = ? AND closed_at IS NULL RETURNING handoff_id",
                [_now(), handoff_id],
            )
        )

    def add_unanswered(
        self, conversation_id: str, user_id: str, question: str, language: str, off_topic: bool
    ) -> None:
        self.run(
            f"INSERT INTO {UNANSWERED_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                f"Q-{uuid.uuid4().hex[:12]}",
                conversation_id,
                user_id,
                question[:500],
                question_key(question),
                language,
                off_topic,
                _now(),
            ],
        )

    def unanswered(self, limit: int, *, days: int | None = None) -> list[dict[str, Any]]:
        """Grouped by :func:`question_key`, most asked first; each group shows its newest
        wording, how often and by which customers it was asked, and whether the
        intent model took it for off-topic (then it is listed after shop questions).
        :func:`retain.assistant.gaps.group_questions` groups these further by meaning."""
        since = _now() - dt.timedelta(days=days) if days is not None else dt.datetime.min
        names = (
            "question", "language", "off_topic", "asked", "customers", "user_ids", "last_asked",
        )  # fmt: skip
        rows = self.run(
            f"""SELECT max(question) FILTER (WHERE newest), max(language) FILTER (WHERE newest),
                       bool_and(off_topic), count(*), count(DISTINCT user_id),
                       array_agg(DISTINCT user_id), max(asked_at)
                FROM (SELECT *, row_number() OVER (
                        PARTITION BY question_key ORDER BY asked_at DESC, question_id) = 1 AS newest
                      FROM {UNANSWERED_TABLE} WHERE asked_at >= ?) AS recent
                GROUP BY question_key
                ORDER BY bool_and(off_topic), count(*) DESC, max(asked_at) DESC, question_key
                LIMIT ?""",
            [since, limit],
        )
        return [dict(zip(names, row, strict=True)) for row in rows]

    def has_turns(self) -> bool:
        """Whether the turn log exists yet (it is created by the first logged turn)."""
        return True

    def _turns(self, conversation_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The logged turns of these conversations, in order, in one query."""
        if not conversation_ids:
            return {}
        unique = list(dict.fromkeys(conversation_ids))
        marks = ", ".join("?" * len(unique))
        out: dict[str, list[dict[str, Any]]] = {}
        for conversation_id, turn, role, text, ts in self.run(
            "SELECT conversation_id, turn, role, text, ts FROM conversations "
            f"WHERE conversation_id IN ({marks}) ORDER BY conversation_id, turn",
            unique,
        ):
            out.setdefault(str(conversation_id), []).append(
                {"turn": int(turn), "role": role, "text": text, "ts": ts}
            )
        return out


class EmbeddedAssistantTables(SqlAssistantTables):
    """The assistant's tables in the shop's own store (one service process)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        ensure_tables(store)

    def run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self.store.execute(sql, params).fetchall()

    def log_turns(self, turns: pa.Table, source: str) -> None:
        ingest_arrow(self.store, "conversations", turns, source=source, format="assistant")

    def has_turns(self) -> bool:
        return self.store.has_table("conversations")


@dataclass(frozen=True)
class OrderInfo:
    """An order as the customer may see it."""

    order_id: str
    ts: dt.datetime
    amount: float
    num_items: int | None
    status: str
    return_requested: bool
    currency: str | None = None
    """The amount's currency, where the order was loaded with one (ISO 4217)."""
    refunded: float | None = None
    """Money given back on the order while it stands (a partial refund), if any."""


class CustomerTools:
    """Order status, returns, recommendations and hand-off for ``user_id`` only."""

    def __init__(self, store: Store, user_id: str, tables: AssistantTables | None = None) -> None:
        self.store = store
        self.user_id = user_id
        self.tables = tables if tables is not None else EmbeddedAssistantTables(store)

    def orders(self, limit: int = 10) -> list[OrderInfo]:
        """The customer's most recent orders, newest first."""
        return self._orders("", [], limit)

    def order(self, order_id: str) -> OrderInfo | None:
        """The customer's order ``order_id``; None when it is not theirs or does not exist."""
        found = self._orders("AND order_id = ?", [order_id], 1)
        return found[0] if found else None

    def _orders(self, where: str, params: list[Any], limit: int) -> list[OrderInfo]:
        if not self.store.has_table("orders"):
            return []
        # A store an older Retain wrote gains the columns only when opened for writing.
        stored = self.store.columns("orders")
        currency = stored_or_null(stored, "currency")
        refunded = stored_or_null(stored, "refunded_amount")
        rows = self.store.execute(
            f"""SELECT order_id, ts, amount, num_items, coalesce(status, 'completed'),
                       {currency}, {refunded}
                FROM orders WHERE user_id = ? {where}
                ORDER BY ts DESC, order_id LIMIT ?""",
            [self.user_id, *params, limit],
        ).fetchall()
        returned = self.tables.returns_requested(self.user_id, [str(r[0]) for r in rows])
        return [
            OrderInfo(
                r[0],
                r[1],
                float(r[2]),
                None if r[3] is None else int(r[3]),
                r[4],
                r[0] in returned,
                r[5],
                None if r[6] is None else float(r[6]),
            )
            for r in rows
        ]

    def returnable(self, order: OrderInfo) -> bool:
        return order.status in RETURNABLE and not order.return_requested

    def start_return(self, order_id: str, conversation_id: str) -> str | None:
        """Record a return request; its id, or None when the order cannot be returned."""
        order = self.order(order_id)
        if order is None or not self.returnable(order):
            return None
        return self.tables.add_return(order_id, self.user_id, conversation_id)

    def recommendations(self, k: int = 3) -> list[tuple[str, str, str]]:
        """``(item_id, title, reason)`` of the customer's stored recommendations."""
        if not self.store.has_table("recommendations"):
            return []
        return [
            (str(r[0]), str(r[1]), str(r[2] or ""))
            for r in self.store.execute(
                """SELECT r.item_id, coalesce(i.title, r.item_id), r.reason
                   FROM recommendations r LEFT JOIN items i USING (item_id)
                   WHERE r.user_id = ? ORDER BY r.rank LIMIT ?""",
                [self.user_id, k],
            ).fetchall()
        ]

    def hand_off(self, conversation_id: str, reason: str, last_message: str) -> str:
        """Queue the conversation for a person; ``last_message`` must already be masked."""
        return self.tables.add_handoff(conversation_id, self.user_id, reason, last_message)

    # -- conversation state -------------------------------------------------

    def load_state(self, conversation_id: str) -> dict[str, Any] | None:
        """The stored state of this customer's conversation; None for another's or a new one."""
        return self.tables.load_state(conversation_id, self.user_id)

    def conversation_taken(self, conversation_id: str) -> bool:
        """True when the id belongs to another customer's conversation."""
        return self.tables.conversation_taken(conversation_id, self.user_id)

    def save_state(self, conversation_id: str, state: dict[str, Any]) -> None:
        self.tables.save_state(conversation_id, self.user_id, state)
