"""Customer features: values on a hand-checked shop, and nothing after the cutoff leaks in."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.features.customer import FeatureTables, customer_features, purchase_outcomes
from retain.retention.campaign import recent_complaints

CUTOFF = dt.date(2025, 3, 31)
NOW = dt.datetime(2030, 1, 1)


def _load(store: Store, table: str, rows: list[dict[str, object]], source: str) -> None:
    columns = sorted({key for row in rows for key in row})  # from_pylist reads row 1's keys only
    data = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
    report = ingest_arrow(store, table, data, source=source, now=NOW)
    assert report.quarantined == 0, report.reasons


def _shop(store: Store) -> None:
    _load(
        store,
        "items",
        [
            {"item_id": "i1", "title": "tea", "category": "drinks"},
            {"item_id": "i2", "title": "cup", "category": "kitchen"},
        ],
        "items",
    )
    _load(
        store,
        "orders",
        [
            {"order_id": "a1", "user_id": "ann", "ts": "2025-01-06 10:00", "amount": 10.0},
            # Same day: one occasion of 30.
            {"order_id": "a2", "user_id": "ann", "ts": "2025-01-06 18:00", "amount": 20.0},
            {"order_id": "a3", "user_id": "ann", "ts": "2025-02-03 09:00", "amount": 15.0},
            {"order_id": "a4", "user_id": "ann", "ts": "2025-03-03 09:00", "amount": 45.0},
            {
                "order_id": "a5",
                "user_id": "ann",
                "ts": "2025-03-10 09:00",
                "amount": 99.0,
                "status": "returned",
            },
            {"order_id": "b1", "user_id": "bob", "ts": "2025-03-24 12:00", "amount": 8.0},
        ],
        "orders-1",
    )
    _load(
        store,
        "events",
        [
            {"user_id": "ann", "item_id": "i1", "event_type": "view", "ts": "2025-03-20"},
            {"user_id": "ann", "item_id": "i1", "event_type": "cart", "ts": "2025-03-20"},
            {"user_id": "ann", "item_id": "i1", "event_type": "purchase", "ts": "2025-03-03"},
            {"user_id": "ann", "item_id": "i2", "event_type": "purchase", "ts": "2025-02-03"},
            {"user_id": "ann", "item_id": "i2", "event_type": "view", "ts": "2025-03-21"},
        ],
        "events-1",
    )
    _load(
        store,
        "reviews",
        [{"user_id": "ann", "item_id": "i1", "ts": "2025-03-05", "rating": 2, "text": "meh"}],
        "reviews-1",
    )
    _load(
        store,
        "conversations",
        [
            {
                "conversation_id": "c1",
                "turn": 0,
                "user_id": "bob",
                "role": "customer",
                "text": "where is my order",
                "ts": "2025-03-28",
            },
            {
                "conversation_id": "c1",
                "turn": 1,
                "user_id": "bob",
                "role": "agent",
                "text": "on its way",
                "ts": "2025-03-28",
            },
        ],
        "chats-1",
    )


def _features(store: Store) -> pd.DataFrame:
    tables = FeatureTables.from_store(store)
    frame = tables.fetch(customer_features(tables, CUTOFF))
    return frame.set_index("user_id").sort_index()


def test_features_of_a_hand_checked_shop(store: Store) -> None:
    _shop(store)
    f = _features(store)
    ann, bob = f.loc["ann"], f.loc["bob"]
    assert ann.x == 2  # three purchase days; the same-day pair is one occasion
    assert ann.t_x == pytest.approx(8.0)  # 6 Jan .. 3 Mar
    assert ann["T"] == pytest.approx(84 / 7)  # 6 Jan .. 31 Mar
    assert ann.recency == pytest.approx(4.0)
    assert ann.monetary_total == pytest.approx(90.0)  # the returned order is not spend
    assert ann.monetary_first == pytest.approx(30.0)
    assert ann.monetary_repeat_mean == pytest.approx(30.0)
    assert ann.returns == 1
    assert ann.ipt_mean == pytest.approx(4.0)
    assert ann.views == 2 and ann.carts == 1 and ann.view_to_cart == pytest.approx(0.5)
    assert ann.category_breadth == 2
    assert ann.reviews == 1 and ann.negative_reviews == 1 and ann.mean_rating == 2
    assert ann.support_contacts == 0
    assert bob.x == 0 and bob.monetary_repeat_mean == 0 and bob.support_contacts == 1
    assert pd.isna(bob.event_recency) and pd.isna(bob.mean_rating)  # unknown, not zero


def test_nothing_after_the_cutoff_changes_a_feature(store: Store) -> None:
    _shop(store)
    before = _features(store)
    later = "2025-04-01 00:00"  # the first moment after the cutoff day
    _load(
        store,
        "orders",
        [
            {"order_id": "a9", "user_id": "ann", "ts": later, "amount": 500.0},
            {
                "order_id": "b9",
                "user_id": "bob",
                "ts": "2025-06-01",
                "amount": 1.0,
                "status": "cancelled",
            },
            {"order_id": "n1", "user_id": "new", "ts": "2025-05-01", "amount": 7.0},
            # Returns of orders placed before the cutoff, made after it: one dated
            # by the export, one by the ingest (NOW) when the export has no date.
            {
                "order_id": "a3",
                "user_id": "ann",
                "ts": "2025-02-03 09:00",
                "amount": 15.0,
                "status": "refunded",
                "status_ts": "2025-04-15 08:00",
            },
            {
                "order_id": "a4",
                "user_id": "ann",
                "ts": "2025-03-03 09:00",
                "amount": 45.0,
                "status": "returned",
            },
        ],
        "orders-2",
    )
    _load(
        store,
        "events",
        [{"user_id": "bob", "item_id": "i2", "event_type": "purchase", "ts": later}],
        "events-2",
    )
    _load(
        store,
        "reviews",
        [{"user_id": "bob", "item_id": "i2", "ts": later, "rating": 1, "text": "bad"}],
        "reviews-2",
    )
    _load(
        store,
        "conversations",
        [
            {
                "conversation_id": "c9",
                "turn": 0,
                "user_id": "ann",
                "role": "customer",
                "text": "refund please",
                "ts": later,
            }
        ],
        "chats-2",
    )
    after = _features(store)
    pd.testing.assert_frame_equal(before, after)
    # The review model's verdicts, the later review's included, change nothing either.
    ids = store.query_df("SELECT review_id FROM reviews").review_id.tolist()
    store.write_table("review_scores", pa.table({"review_id": ids, "label": [0] * len(ids)}))
    pd.testing.assert_frame_equal(before, _features(store))


def test_outcomes_count_occasions_inside_the_window_only(store: Store) -> None:
    _shop(store)
    tables = FeatureTables.from_store(store)
    got = tables.fetch(purchase_outcomes(tables, dt.date(2025, 1, 6), dt.date(2025, 3, 3)))
    assert got.set_index("user_id").to_dict("index") == {"ann": {"purchases": 2.0, "spend": 60.0}}


def test_an_edited_review_counts_as_it_stood_on_each_day(store: Store) -> None:
    """Bob's one-star review, made five stars after the cutoff: features at the
    cutoff are what they were before the edit (the old words, and the verdict
    the model gave them), and from the day of the edit he no longer complains."""
    _shop(store)
    review = {"review_id": "r1", "user_id": "bob", "item_id": "i2", "ts": "2025-03-25"}
    _load(store, "reviews", [{**review, "text": "arrived broken"}], "reviews-bob")
    scored = {"review_id": ["r1"], "label": [0], "scored_at": [dt.datetime(2025, 3, 26)]}
    store.write_table("review_scores", pa.table(scored))
    before = _features(store)
    assert before.loc["bob"].negative_reviews == 1
    edit = {**review, "rating": 5, "text": "replaced in two days, great service"}
    _load(store, "reviews", [{**edit, "edited_ts": "2025-04-10 09:00"}], "reviews-bob-edited")
    kept = store.query_df("SELECT text, verdict FROM review_versions")
    assert kept.to_dict("records") == [{"text": "arrived broken", "verdict": 0}]
    rescored = {"review_id": ["r1"], "label": [1], "scored_at": [dt.datetime(2025, 4, 11)]}
    store.write_table("review_scores", pa.table(rescored))
    pd.testing.assert_frame_equal(before, _features(store))
    tables = FeatureTables.from_store(store)
    bob = tables.fetch(customer_features(tables, dt.date(2025, 4, 10))).set_index("user_id")
    assert (bob.loc["bob"].negative_reviews, bob.loc["bob"].mean_rating) == (0, 5.0)
    # A campaign planned then has no review of his to answer; one planned before did.
    reviews_only = dataclasses.replace(tables, conversations=None)  # his chat is a complaint too
    assert "bob" in recent_complaints(reviews_only, CUTOFF)
    assert "bob" not in recent_complaints(reviews_only, dt.date(2025, 4, 10))


def test_a_partial_refund_nets_spend_from_the_day_it_was_made(store: Store) -> None:
    """Part of Ann's 45 order comes back after the cutoff, then more: spend at the
    cutoff is unchanged, and each later day nets the refunds made by then. A
    refund first loaded without a date holds from the order's own time."""
    _shop(store)
    before = _features(store)
    a4 = {"order_id": "a4", "user_id": "ann", "ts": "2025-03-03 09:00", "amount": 45.0}
    first = {**a4, "refunded_amount": 15.0, "refunded_ts": "2025-04-05"}
    _load(store, "orders", [first], "refund-1")
    _load(store, "orders", [{**a4, "refunded_amount": 25.0, "refunded_ts": "2025-04-20"}], "r-2")
    stale = ingest_arrow(store, "orders", pa.Table.from_pylist([first]), source="r-1", now=NOW)
    assert (stale.duplicates, stale.updated) == (1, 0)
    kept = store.query_df(
        "SELECT refunded_amount, valid_from, valid_to FROM order_refund_versions ORDER BY version"
    )
    assert kept.refunded_amount.fillna(-1).tolist() == [-1, 15.0]
    assert kept.valid_to.tolist() == [pd.Timestamp("2025-04-05"), pd.Timestamp("2025-04-20")]
    pd.testing.assert_frame_equal(before, _features(store))
    tables = FeatureTables.from_store(store)
    for day, spend in (
        (dt.date(2025, 4, 5), 75.0),
        (dt.date(2025, 4, 19), 75.0),
        (dt.date(2025, 4, 20), 65.0),
    ):
        ann = tables.fetch(customer_features(tables, day)).set_index("user_id").loc["ann"]
        assert ann.monetary_total == pytest.approx(spend), day
    b2 = {"order_id": "b2", "user_id": "bob", "ts": "2025-03-26 10:00", "amount": 40.0}
    _load(store, "orders", [{**b2, "refunded_amount": 10.0}], "refunded-on-arrival")
    bob = _features(store).loc["bob"]
    assert bob.monetary_total == pytest.approx(38.0)
    # Outcomes read the window's orders as they stood at its end.
    window = tables.fetch(purchase_outcomes(tables, dt.date(2025, 3, 1), dt.date(2025, 4, 30)))
    assert window.set_index("user_id").loc["ann"].spend == pytest.approx(20.0)


def test_a_return_counts_from_the_day_the_order_took_that_status(store: Store) -> None:
    """Features as of a day after a return see it, and only that one; the
    purchase outcomes of a window count the orders as they stood at its end."""
    _shop(store)
    _load(
        store,
        "orders",
        [
            {
                "order_id": "a3",
                "user_id": "ann",
                "ts": "2025-02-03 09:00",
                "amount": 15.0,
                "status": "returned",
                "status_ts": "2025-04-15 08:00",
            },
        ],
        "orders-2",
    )
    (moved,) = store.query_df("SELECT status_ts FROM orders WHERE order_id = 'a3'").status_ts
    assert moved == pd.Timestamp("2025-04-15 08:00")
    tables = FeatureTables.from_store(store)
    for day, returns, spend in ((CUTOFF, 1, 90.0), (dt.date(2025, 4, 15), 2, 75.0)):
        ann = tables.fetch(customer_features(tables, day)).set_index("user_id").loc["ann"]
        assert (ann.returns, ann.monetary_total) == (returns, pytest.approx(spend)), day
    outcomes = tables.fetch(purchase_outcomes(tables, dt.date(2025, 1, 31), CUTOFF))
    # At the window's end a3 was still a purchase: 3 Feb and 3 Mar (a5 was returned).
    assert outcomes.set_index("user_id").loc["ann"].purchases == 2
