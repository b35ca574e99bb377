"""A short factual summary of what a store holds, for ``retain run`` and ``status``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from retain.data.schemas import net_amount_sql, purchase_sql, stored_or_null
from retain.data.store import Store
from retain.errors import InvalidInputError

__all__ = [
    "buyers_since",
    "last_order_day",
    "latest_order_day",
    "median_order_value",
    "scores_summary",
    "shop_summary",
]


def shop_summary(store: Store) -> dict[str, Any]:
    """Counts, time span, buyers and repeat-purchase rate of the stored shop."""
    counts = store.counts()
    span = store.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    orders = store.execute("SELECT min(ts), max(ts) FROM orders").fetchall()[0]
    # Buyers and repeat buyers count purchases as every capability does: one per
    # customer and day, cancelled, returned and refunded orders left out.
    buyers = store.execute(
        "SELECT count(*), count(*) FILTER (WHERE n > 1) FROM (SELECT user_id, "
        f"count(DISTINCT CAST(ts AS DATE)) AS n FROM orders WHERE {purchase_sql()} GROUP BY 1)"
    ).fetchall()[0]
    # Net of partial refunds: money that came back was never revenue.
    stored = store.columns("orders")
    net = net_amount_sql(stored)
    refunds = stored_or_null(stored, "refunded_amount")
    revenue = store.execute(
        f"SELECT coalesce(sum({net}), 0), count({refunds}) FILTER (WHERE {refunds} > 0), "
        f"coalesce(sum({refunds}), 0) FROM orders WHERE status = 'completed'"
    ).fetchall()[0]
    n_buyers = int(buyers[0]) if buyers else 0
    return {
        "counts": counts,
        "first_event": str(span[0]) if span and span[0] is not None else None,
        "last_event": str(span[1]) if span and span[1] is not None else None,
        "first_order": str(orders[0]) if orders and orders[0] is not None else None,
        "last_order": str(orders[1]) if orders and orders[1] is not None else None,
        "buyers": n_buyers,
        "repeat_purchase_rate": round(int(buyers[1]) / n_buyers, 4)
        if buyers and n_buyers
        else None,
        "completed_revenue": round(float(revenue[0]), 2) if revenue else 0.0,
        "orders_refunded_in_part": int(revenue[1]) if revenue else 0,
        "refunded_in_part": round(float(revenue[2]), 2) if revenue else 0.0,
    }


def buyers_since(store: Store, as_of: dt.date) -> set[str]:
    """Customers with a purchase after the day ``as_of`` (e.g. the scores' cutoff): an order
    that is a purchase, or a purchase event from the API or a file."""
    after = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    sources = []
    if store.has_table("orders"):
        sources.append(f"SELECT user_id FROM orders WHERE ts >= ? AND {purchase_sql()}")
    if store.has_table("events"):
        sources.append("SELECT user_id FROM events WHERE ts >= ? AND event_type = 'purchase'")
    if not sources:
        return set()
    found = store.execute(
        f"SELECT DISTINCT user_id FROM ({' UNION ALL '.join(sources)})", [after] * len(sources)
    ).fetchall()
    return {str(u) for (u,) in found}


def scores_summary(store: Store) -> dict[str, Any] | None:
    """How current the churn scores are: their cutoff, model, when they were written, and
    how many scored customers bought since (their risk is out of date); None if unscored."""
    if not store.has_table("user_scores"):
        return None
    written = "max(scored_at)" if "scored_at" in store.columns("user_scores") else "NULL"
    row = store.execute(
        f"SELECT min(cutoff), any_value(model_version), {written}, count(*) FROM user_scores"
    ).fetchall()[0]
    if not row[3]:
        return None
    cutoff = row[0]
    scored = {str(u) for (u,) in store.execute("SELECT user_id FROM user_scores").fetchall()}
    return {
        "cutoff": cutoff,
        "model_version": row[1],
        "scored_at": row[2],
        "customers": int(row[3]),
        "bought_since": len(buyers_since(store, cutoff) & scored),
    }


def median_order_value(store: Store) -> float | None:
    """The median amount of a purchase (cancelled, returned, refunded left out), if any,
    net of partial refunds: what a customer kept is what a coupon is weighed against."""
    if not store.has_table("orders"):
        return None
    net = net_amount_sql(store.columns("orders"))
    row = store.execute(
        f"SELECT median({net}) FROM orders WHERE {purchase_sql()} AND {net} > 0"
    ).fetchall()
    return float(row[0][0]) if row and row[0][0] is not None else None


def latest_order_day(store: Store) -> dt.date | None:
    """The day of the latest order, or ``None`` for a shop without orders."""
    last = store.query_arrow("SELECT max(ts) AS last FROM orders").to_pylist()[0]["last"]
    if last is None:
        return None
    assert isinstance(last, dt.datetime)
    return last.date()


def last_order_day(store: Store) -> dt.date:
    """The day of the latest order: the natural "as of" for models and reports.

    Raises:
        InvalidInputError: the store holds no orders.
    """
    day = latest_order_day(store)
    if day is None:
        raise InvalidInputError("there are no orders in the store; ingest orders first")
    return day
