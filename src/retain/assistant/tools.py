"""What the assistant can look up and do, for one authenticated customer.

A :class:`CustomerTools` is built with the customer's id by whoever
authenticated them, and every query it runs is filtered by that id. Nothing in
a message can change it: asking for another customer's order gets the same
answer as asking for an order that does not exist.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from retain.data.store import Store

__all__ = [
    "HANDOFFS_TABLE",
    "RETURN_REQUESTS_TABLE",
    "CustomerTools",
    "OrderInfo",
    "ensure_tables",
]

RETURN_REQUESTS_TABLE = "return_requests"
HANDOFFS_TABLE = "handoffs"
STATE_TABLE = "assistant_state"

_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {RETURN_REQUESTS_TABLE} (
        request_id VARCHAR PRIMARY KEY, order_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL,
        conversation_id VARCHAR, requested_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {HANDOFFS_TABLE} (
        handoff_id VARCHAR PRIMARY KEY, conversation_id VARCHAR NOT NULL, user_id VARCHAR,
        reason VARCHAR NOT NULL, last_message VARCHAR, created_at TIMESTAMP NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
        conversation_id VARCHAR PRIMARY KEY, user_id VARCHAR NOT NULL, state VARCHAR NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
)

#: Order statuses a return can start from.
RETURNABLE = ("completed",)


def ensure_tables(store: Store) -> None:
    """Create the assistant's own tables when they are missing."""
    for ddl in _DDL:
        store.execute(ddl)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class OrderInfo:
    """An order as the customer may see it."""

    order_id: str
    ts: dt.datetime
    amount: float
    num_items: int | None
    status: str
    return_requested: bool


class CustomerTools:
    """Order status, returns, recommendations and hand-off for ``user_id`` only."""

    def __init__(self, store: Store, user_id: str) -> None:
        self.store = store
        self.user_id = user_id
        ensure_tables(store)

    def orders(self, limit: int = 10) -> list[OrderInfo]:
        """The customer's most recent orders, newest first."""
        return self._orders("", [], limit)

    def order(self, order_id: str) -> OrderInfo | None:
        """The customer's order ``order_id``; None when it is not theirs or does not exist."""
        found = self._orders("AND o.order_id = ?", [order_id], 1)
        return found[0] if found else None

    def _orders(self, where: str, params: list[Any], limit: int) -> list[OrderInfo]:
        if not self.store.has_table("orders"):
            return []
        rows = self.store.execute(
            f"""SELECT o.order_id, o.ts, o.amount, o.num_items, coalesce(o.status, 'completed'),
                       EXISTS (SELECT 1 FROM {RETURN_REQUESTS_TABLE} r
                               WHERE r.order_id = o.order_id AND r.user_id = o.user_id)
                FROM orders o WHERE o.user_id = ? {where}
                ORDER BY o.ts DESC, o.order_id LIMIT ?""",
            [self.user_id, *params, limit],
        ).fetchall()
        return [
            OrderInfo(r[0], r[1], float(r[2]), None if r[3] is None else int(r[3]), r[4], r[5])
            for r in rows
        ]

    def returnable(self, order: OrderInfo) -> bool:
        return order.status in RETURNABLE and not order.return_requested

    def start_return(self, order_id: str, conversation_id: str) -> str | None:
        """Record a return request; its id, or None when the order cannot be returned."""
        order = self.order(order_id)
        if order is None or not self.returnable(order):
            return None
        request_id = f"R-{uuid.uuid4().hex[:12]}"
        self.store.execute(
            f"INSERT INTO {RETURN_REQUESTS_TABLE} VALUES (?, ?, ?, ?, ?, 'requested')",
            [request_id, order_id, self.user_id, conversation_id, _now()],
        )
        return request_id

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
        handoff_id = f"H-{uuid.uuid4().hex[:12]}"
        self.store.execute(
            f"INSERT INTO {HANDOFFS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
            [handoff_id, conversation_id, self.user_id, reason, last_message[:500], _now()],
        )
        return handoff_id

    # -- conversation state -------------------------------------------------

    def load_state(self, conversation_id: str) -> dict[str, Any] | None:
        """The stored state of this customer's conversation; None for another's or a new one."""
        row = self.store.execute(
            f"SELECT state FROM {STATE_TABLE} WHERE conversation_id = ? AND user_id = ?",
            [conversation_id, self.user_id],
        ).fetchall()
        return json.loads(row[0][0]) if row else None

    def conversation_taken(self, conversation_id: str) -> bool:
        """True when the id belongs to another customer's conversation."""
        row = self.store.execute(
            f"SELECT count(*) FROM {STATE_TABLE} WHERE conversation_id = ? AND user_id <> ?",
            [conversation_id, self.user_id],
        ).fetchall()
        return bool(row[0][0])

    def save_state(self, conversation_id: str, state: dict[str, Any]) -> None:
        self.store.execute(
            f"""INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?)
                ON CONFLICT (conversation_id) DO UPDATE
                SET state = excluded.state, updated_at = excluded.updated_at""",
            [conversation_id, self.user_id, json.dumps(state, ensure_ascii=False), _now()],
        )
