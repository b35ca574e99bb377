"""A shop with order exports only: its orders' item lists are the purchases."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.features.customer import FeatureTables, customer_features
from retain.features.purchases import purchased_items
from retain.features.taste import taste_features
from retain.recommend.scoring import interactions, train_and_recommend

NOW = dt.datetime(2030, 1, 1)
CUTOFF = dt.date(2025, 6, 30)


def _orders_only_shop(store: Store) -> None:
    """20 gardeners and 20 readers (8 items each), three orders each of two lines;
    one order returned, one placed after the cutoff. No events at all."""
    items = [
        {"item_id": f"{c}-{i}", "title": f"{c} {i}", "category": c}
        for c in ("garden", "books")
        for i in range(8)
    ]
    orders = []
    for category in ("garden", "books"):
        for u in range(20):
            user = f"{category}-{u}"
            for k in range(3):
                lines = [
                    {"item_id": f"{category}-{(u + k) % 8}", "quantity": 1, "price": 5.0},
                    {"item_id": f"{category}-{(u + k + 1) % 8}", "quantity": 2, "price": 2.5},
                ]
                orders.append(
                    {"order_id": f"{user}-{k}", "user_id": user, "ts": f"2025-0{k + 2}-10",
                     "amount": 10.0, "items": json.dumps(lines), "status": "completed"}
                )  # fmt: skip
    orders[0]["status"] = "returned"  # garden-0's first order
    orders.append({"order_id": "late", "user_id": "books-0", "ts": "2025-08-01", "amount": 5.0,
                   "items": json.dumps([{"item_id": "garden-0"}])})  # fmt: skip
    ingest_arrow(store, "items", pa.Table.from_pylist(items), source="t", now=NOW)
    ingest_arrow(store, "orders", pa.Table.from_pylist(orders), source="t", now=NOW)


def test_order_lines_are_the_purchases_until_the_shop_sends_purchase_events(
    store: Store,
) -> None:
    _orders_only_shop(store)
    tables = FeatureTables.from_store(store)
    bought = purchased_items(tables, CUTOFF)
    assert bought is not None
    lines = tables.fetch(bought)
    # 40 customers x 3 orders x 2 lines, less the returned order's two lines; the
    # order after the cutoff is not read.
    assert len(lines) == 40 * 3 * 2 - 2
    assert set(lines.columns) == {"user_id", "item_id", "ts"}
    assert "late" not in set(lines.user_id) and lines.ts.max() < dt.datetime(2025, 7, 1)
    assert len(lines[lines.user_id == "garden-0"]) == 4  # its returned order left out
    # Once the shop sends purchase events, those are the purchases (never both).
    event = {"event_id": "e1", "user_id": "garden-1", "item_id": "books-0",
             "event_type": "purchase", "ts": "2025-03-01"}  # fmt: skip
    ingest_arrow(store, "events", pa.Table.from_pylist([event]), source="t", now=NOW)
    after = purchased_items(FeatureTables.from_store(store), CUTOFF)
    assert after is not None
    assert FeatureTables.from_store(store).fetch(after).item_id.tolist() == ["books-0"]


def test_category_breadth_reads_the_order_lines_of_a_shop_without_events(store: Store) -> None:
    """The churn feature counts the categories each customer bought from in their
    orders, as of the cutoff: books-0's later garden order is not read yet."""
    _orders_only_shop(store)
    orders = [{"order_id": "mixed", "user_id": "garden-2", "ts": "2025-05-01", "amount": 4.0,
               "items": json.dumps([{"item_id": "books-1"}, {"item_id": "garden-1"}])}]  # fmt: skip
    ingest_arrow(store, "orders", pa.Table.from_pylist(orders), source="u", now=NOW)
    tables = FeatureTables.from_store(store)
    breadth = tables.fetch(customer_features(tables, CUTOFF)).set_index("user_id")
    assert breadth.category_breadth.to_dict() == {
        **{f"{c}-{u}": 1.0 for c in ("garden", "books") for u in range(20)},
        "garden-2": 2.0,
    }
    later = tables.fetch(customer_features(tables, dt.date(2025, 8, 1))).set_index("user_id")
    assert later.loc["books-0", "category_breadth"] == 2.0


def test_taste_and_recommendations_from_order_exports_alone(store: Store, tmp_path: Path) -> None:
    _orders_only_shop(store)
    shares = taste_features(FeatureTables.from_store(store), CUTOFF).set_index("user_id")
    assert shares.loc["garden-3", "taste:garden"] == pytest.approx(1.0)
    assert shares.loc["books-3", "taste:books"] == pytest.approx(1.0)
    seen = interactions(store)
    assert set(seen.column("event_type").to_pylist()) == {"purchase"}
    assert seen.num_rows == 40 * 3 * 2 - 2 + 1  # the late order's line is a purchase too
    result = train_and_recommend(store, tmp_path / "models")
    assert result.users == 40
    picks = store.query_df("SELECT user_id, item_id FROM recommendations WHERE rank <= 2")
    gardener = picks[picks.user_id == "garden-5"].item_id.tolist()
    assert gardener and all(item.startswith("garden") for item in gardener)
