"""One customer, one id: an e-mail address typed in another case is the same customer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from retain.data import Store, ingest_file
from retain.data.user_ids import canonical_user_id, canonical_user_id_sql
from retain.errors import InvalidInputError
from retain.privacy import ERASED_DDL, ERASED_TABLE, erase_user, erasure_salt, id_hash
from retain.serve.pages import customer_page
from tests.conftest import write

NOW = dt.datetime(2026, 12, 7, 12, 0)

_IDS = [
    "Ann@Shop.com",
    "ann@shop.com",
    "O'Neil@Mail.IE",
    "U1",
    "u1",
    "a@b",  # no dot in the domain: not an address
    "two@at@Shop.com",
    "x y@Shop.com",
    "İlkay@Shop.com",  # a non-ASCII letter: Python and DuckDB would fold it apart
    "Ünal@Shop.com",
]


def test_python_and_sql_fold_ids_alike() -> None:
    con = duckdb.connect()
    for user_id in _IDS:
        sql = con.execute(
            f"SELECT {canonical_user_id_sql('x')} FROM (SELECT ?::VARCHAR AS x)", [user_id]
        ).fetchone()
        assert sql == (canonical_user_id(user_id),), user_id
    assert canonical_user_id("Ann@Shop.com") == "ann@shop.com"
    assert canonical_user_id("U1") == "U1"
    with pytest.raises(InvalidInputError, match="required"):
        canonical_user_id("  ")
    with pytest.raises(InvalidInputError, match="at most 512"):
        canonical_user_id("u" * 513)


def test_an_address_typed_in_three_cases_is_one_customer(store: Store, tmp_path: Path) -> None:
    orders = write(
        tmp_path / "orders.csv",
        "order_id,user_id,ts,amount\n"
        "o1,Ann@Shop.com,2026-10-01,20\n"
        "o2,ann@shop.com ,2026-11-01,30\n"
        "o3,ANN@SHOP.COM,2026-11-20,25\n"
        "o4,U1,2026-11-02,10\n"
        "o5,u1,2026-11-03,10\n",
    )
    report = ingest_file(store, "orders", orders, now=NOW)
    assert (report.accepted, report.quarantined) == (5, 0)
    buyers = store.execute("SELECT user_id, count(*) FROM orders GROUP BY 1 ORDER BY 1").fetchall()
    # A repeat buyer, not three one-time buyers; ids that are no address keep their case.
    assert buyers == [("U1", 1), ("ann@shop.com", 3), ("u1", 1)]

    users = write(tmp_path / "users.csv", "user_id,first_seen,tier\nAnn@Shop.com,2026-09-30,gold\n")
    ingest_file(store, "users", users, now=NOW)
    again = ingest_file(store, "users", users, now=NOW)
    assert again.duplicates == 1  # the folded id is the stored key
    assert store.execute("SELECT user_id FROM users").fetchall() == [("ann@shop.com",)]

    page = customer_page(store, "Ann@SHOP.com")
    assert page is not None and len(page["orders"]) == 3


def test_an_erased_address_stays_erased_in_any_case(store: Store, tmp_path: Path) -> None:
    events = "event_id,user_id,item_id,event_type,ts\n"
    events += "e1,Ann@Shop.com,i1,view,2026-11-01\ne2,ann@shop.com,i1,purchase,2026-11-02\n"
    events += "e3,Ann@Shop.com,i1,clik,2026-11-03\n"  # quarantined as the file wrote it
    path = write(tmp_path / "events.csv", events)
    ingest_file(store, "events", path, now=NOW)
    assert "Ann@Shop.com" in store.execute("SELECT record FROM quarantine").fetchone()[0]

    report = erase_user(store, "ANN@shop.com")
    assert report.rows_by_table == {"events": 2, "quarantine": 1}
    again = ingest_file(store, "events", path, now=NOW)
    assert (again.accepted, again.erased, again.quarantined) == (0, 3, 0)

    # Someone erased before ids were folded was hashed as written: still kept out.
    with store.transaction() as con:
        con.execute(ERASED_DDL)
        salt = erasure_salt(con, create=True)
        assert salt is not None
        con.execute(
            f"INSERT INTO {ERASED_TABLE} VALUES (?, ?)",
            [id_hash(salt, "Bob@Shop.com"), NOW - dt.timedelta(days=1)],
        )
    old = write(
        tmp_path / "old.csv",
        "event_id,user_id,item_id,event_type,ts\n"
        "b1,Bob@Shop.com,i1,view,2026-11-01\n"
        "b2,Bob@Shop.com,i1,view,2026-12-07T11:00:00Z\n",  # after the erase: new
    )
    back = ingest_file(store, "events", old, now=NOW)
    assert (back.accepted, back.erased) == (1, 1)
    assert store.execute("SELECT event_id, user_id FROM events").fetchall() == [
        ("b2", "bob@shop.com")
    ]


def test_a_store_from_before_folding_is_folded_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "retain.duckdb"
    with Store.open(path) as store:
        con = store.connection
        con.execute("UPDATE retain_meta SET value = '1' WHERE key = 'schema_version'")
        con.execute(
            "INSERT INTO users (user_id, first_seen, attributes, marketing_consent) VALUES "
            '(\'Ann@Shop.com\', \'2026-03-01\', \'{"tier": "gold", "city": "Oslo"}\', TRUE), '
            "('ann@shop.com', '2026-01-01', '{\"tier\": \"silver\"}', FALSE), "
            "('Bo@Shop.com', '2026-02-01', NULL, TRUE), "
            "('U1', '2026-02-01', NULL, NULL)"
        )
        con.execute(
            "INSERT INTO orders (order_id, user_id, ts, amount) VALUES "
            "('o1', 'Ann@Shop.com', '2026-03-02', 10), ('o2', 'ann@shop.com', '2026-04-02', 20)"
        )
        con.execute(
            "CREATE TABLE user_scores AS SELECT * FROM (VALUES "
            "('Ann@Shop.com', 0.9), ('ann@shop.com', 0.2), ('Bo@Shop.com', 0.5), ('U1', 0.4)"
            ") t(user_id, churn_risk)"
        )

    with Store.open(path) as store:
        version = store.execute("SELECT value FROM retain_meta WHERE key = 'schema_version'")
        assert version.fetchone() == ("2",)
        users = store.query_df("SELECT * FROM users ORDER BY user_id").set_index("user_id")
        assert list(users.index) == ["U1", "ann@shop.com", "bo@shop.com"]
        ann = users.loc["ann@shop.com"]
        assert str(ann.first_seen).startswith("2026-01-01")  # the earliest
        assert not ann.marketing_consent  # declined once: no marketing
        # The later profile's value wins a shared key; other keys are kept.
        assert json.loads(ann.attributes) == {"tier": "gold", "city": "Oslo"}
        orders = store.execute("SELECT order_id, user_id FROM orders ORDER BY 1").fetchall()
        assert orders == [("o1", "ann@shop.com"), ("o2", "ann@shop.com")]
        # Half a customer's score is dropped until the next training; the others are kept.
        scores = store.execute("SELECT user_id FROM user_scores ORDER BY 1").fetchall()
        assert scores == [("U1",), ("bo@shop.com",)]

    with Store.open(path) as store:  # opened again: nothing more to do
        assert store.count("users") == 3
