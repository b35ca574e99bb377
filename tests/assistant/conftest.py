"""A small shop with two customers, the demo knowledge base and a trained assistant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from retain.assistant.dialogue import Assistant
from retain.assistant.service import build_assistant, train_assistant
from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.demo.shop import kb_table

NOW = dt.datetime(2030, 1, 1)

ORDERS = {
    "order_id": ["O000101", "O000102", "O000103", "O000201"],
    "user_id": ["alice", "alice", "alice", "bob"],
    "ts": ["2025-05-01 10:00", "2025-05-20 09:30", "2025-06-02 18:00", "2025-06-01 12:00"],
    "amount": [59.0, 120.5, 35.0, 999.0],
    "num_items": [1, 3, 2, 4],
    "status": ["completed", "completed", "pending", "completed"],
}
ITEMS = {
    "item_id": ["I1", "I2", "I3"],
    "title": ["Hydrating Face Serum", "保湿面霜", "Trail Running Shoes"],
    "category": ["skincare", "skincare", "sports"],
}


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("assistant-shop")
    with Store.open(folder / "retain.duckdb") as store:
        ingest_arrow(store, "orders", pa.table(ORDERS), source="test-orders", now=NOW)
        ingest_arrow(store, "items", pa.table(ITEMS), source="test-items", now=NOW)
        ingest_arrow(store, "kb_articles", kb_table(), source="test-kb", now=NOW)
        store.write_table(
            "recommendations",
            pa.table(
                {
                    "user_id": ["alice", "alice"],
                    "rank": [1, 2],
                    "item_id": ["I1", "I3"],
                    "score": [0.9, 0.5],
                    "reason": ["because you bought 保湿面霜", "popular"],
                }
            ),
        )
    train_assistant(folder / "models")
    return folder


@pytest.fixture
def assistant(shop_dir: Path, tmp_path: Path) -> Iterator[Assistant]:
    """A fresh copy of the shop per test, so one conversation cannot leak into another."""
    copy = tmp_path / "retain.duckdb"
    copy.write_bytes((shop_dir / "retain.duckdb").read_bytes())
    with Store.open(copy) as store:
        yield build_assistant(store, shop_dir / "models")
