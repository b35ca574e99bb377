"""The store API the capabilities build on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from retain.data import Store
from retain.data.store import parse_store_url
from retain.errors import InvalidInputError, NotFoundError, StoreError


def test_url_forms() -> None:
    assert parse_store_url("duckdb:///var/x.duckdb") == "/var/x.duckdb"
    assert parse_store_url("duckdb://rel/x.duckdb") == "rel/x.duckdb"
    assert parse_store_url("duckdb://:memory:") == ":memory:"
    assert parse_store_url("plain.duckdb") == "plain.duckdb"
    with pytest.raises(InvalidInputError, match="unsupported store URL 'postgresql://h/db'"):
        parse_store_url("postgresql://h/db")


def test_creates_every_canonical_table(store: Store) -> None:
    assert set(store.counts()) == {
        "items",
        "users",
        "events",
        "orders",
        "reviews",
        "conversations",
        "kb_articles",
        "quarantine",
    }
    assert all(n == 0 for n in store.counts().values())


def test_write_table_replaces_atomically_and_refuses_inputs(store: Store) -> None:
    store.write_table("user_scores", pd.DataFrame({"user_id": ["a"], "churn_risk": [0.2]}))
    store.write_table(
        "user_scores", pd.DataFrame({"user_id": ["b", "c"], "churn_risk": [0.1, 0.9]})
    )
    assert store.count("user_scores") == 2
    store.write_table(
        "user_scores", pd.DataFrame({"user_id": ["d"], "churn_risk": [0.5]}), mode="append"
    )
    assert store.count("user_scores") == 3
    with pytest.raises(InvalidInputError, match="'events' is an input table"):
        store.write_table("events", pd.DataFrame({"x": [1]}))
    with pytest.raises(NotFoundError, match="no table 'nope'"):
        store.table("nope")


def test_appending_a_new_column_adds_it_and_a_failed_pair_writes_nothing(store: Store) -> None:
    store.write_table("interventions", pd.DataFrame({"user_id": ["a"], "cost": [1.0]}))
    store.write_table(
        "interventions",
        pd.DataFrame({"user_id": ["b"], "cost": [2.0], "audience": ["at risk"]}),
        mode="append",
    )
    rows = store.query_df("SELECT * FROM interventions ORDER BY user_id")
    assert rows.audience.isna().tolist() == [True, False] and rows.audience[1] == "at risk"
    assert rows.cost.tolist() == [1.0, 2.0]
    with pytest.raises(InvalidInputError, match="input table"):
        store.write_tables(
            {"customer_clusters": pd.DataFrame({"user_id": ["a"]}), "orders": pd.DataFrame()}
        )
    assert not store.has_table("customer_clusters")  # refused before anything was written
    assert "interventions" in store.table_names() and "customer_clusters" not in (
        store.table_names()
    )


def test_reopen_keeps_data_and_checks_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store.open(path) as s:
        s.write_table("recommendations", pd.DataFrame({"user_id": ["u"], "item_id": ["i"]}))
    with Store.open(path) as s:
        assert s.count("recommendations") == 1
        s.execute("UPDATE retain_meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 999"):
        Store.open(path)


def test_read_only_open_of_a_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="ingest data first"):
        Store.open(tmp_path / "none.duckdb", read_only=True)


def test_a_store_an_older_version_wrote_gains_the_new_fields(tmp_path: Path) -> None:
    """Orders gained ``status_ts``, ``currency`` and the refund fields: an older store
    still reads (the fields as empty) and gets the columns, its rows kept, the first
    time it is opened for writing."""
    from retain.data.summary import shop_summary
    from retain.features.customer import FeatureTables, purchase_occasions

    path = tmp_path / "old.duckdb"
    with Store.open(path) as s:
        for added in ("refunded_ts", "refunded_amount", "currency", "status_ts"):
            s.execute(f"ALTER TABLE orders DROP COLUMN {added}")
        s.execute("DROP TABLE order_refund_versions")
        s.execute("INSERT INTO orders VALUES ('o1', 'u1', '2026-01-02', 5.0, 1, 'completed', NULL)")
    with Store.open(path, read_only=True) as s:
        assert "status_ts" not in s.columns("orders")
        tables = FeatureTables.from_store(s)
        day = pd.Timestamp("2026-01-03").date()
        assert tables.fetch(purchase_occasions(tables, day)).spend.tolist() == [5.0]
        assert shop_summary(s)["completed_revenue"] == 5.0
    with Store.open(path) as s:
        added = ["status_ts", "currency", "refunded_amount", "refunded_ts"]
        assert s.columns("orders")[-4:] == added
        assert s.has_table("order_refund_versions")
        assert s.count("orders") == 1
