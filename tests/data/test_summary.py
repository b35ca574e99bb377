"""The shop summary counts buyers as every capability counts purchases."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.data.summary import shop_summary
from retain.features.customer import FeatureTables
from retain.retention.analytics import repeat_purchase_rate


def test_buyers_and_repeat_rate_agree_with_the_analytics(store: Store) -> None:
    rows = [
        ("ann", "2025-01-05 09:00", "completed"),
        ("ann", "2025-01-05 18:00", "completed"),  # same day: one purchase occasion
        ("bob", "2025-01-06 10:00", "completed"),
        ("bob", "2025-02-01 10:00", "completed"),  # a repeat buyer
        ("cat", "2025-01-07 10:00", "returned"),  # returned only: no buyer
        ("dan", "2025-01-08 10:00", "cancelled"),
        ("eve", "2025-01-09 10:00", "refunded"),
    ]
    orders = pa.Table.from_pylist(
        [
            {"order_id": f"o{i}", "user_id": u, "ts": ts, "amount": 10.0, "status": status}
            for i, (u, ts, status) in enumerate(rows)
        ]
    )
    ingest_arrow(store, "orders", orders, source="t", now=dt.datetime(2030, 1, 1))
    summary = shop_summary(store)
    assert summary["buyers"] == 2 and summary["repeat_purchase_rate"] == 0.5
    # An orders-only shop: the orders' span, and no events (not "None .. None").
    assert (summary["first_order"], summary["last_order"]) == (
        "2025-01-05 09:00:00",
        "2025-02-01 10:00:00",
    )
    assert summary["first_event"] is None and summary["last_event"] is None
    tables = FeatureTables.from_store(store)
    rate = tables.fetch(repeat_purchase_rate(tables, dt.date(2025, 12, 31))).iloc[0]
    assert (rate.customers, rate.repeat_customers) == (2, 1)
