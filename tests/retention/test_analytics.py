"""Cohorts, curves and segments on a hand-checked shop, and on an empty one."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables
from retain.retention.analytics import (
    NOT_SET,
    active_users,
    attribute_names,
    cohort_heatmap,
    cohort_retention,
    repeat_purchase_rate,
    retention_curve,
    revenue_curve,
    segment_matrix,
)
from retain.retention.segments import (
    LAPSING,
    NOT_YET,
    SEGMENTS,
    count_moves,
    rfm_segments,
    segment_moves,
)

AS_OF = dt.date(2025, 4, 15)


def _orders(store: Store, rows: list[tuple[str, str, float, str]]) -> FeatureTables:
    table = pa.Table.from_pylist(
        [
            {"order_id": f"o{i}", "user_id": u, "ts": ts, "amount": amount, "status": status}
            for i, (u, ts, amount, status) in enumerate(rows)
        ]
    )
    report = ingest_arrow(store, "orders", table, source="t", now=dt.datetime(2030, 1, 1))
    assert report.quarantined == 0
    return FeatureTables.from_store(store)


@pytest.fixture
def shop(store: Store) -> FeatureTables:
    return _orders(
        store,
        [
            ("ann", "2025-01-05", 10.0, "completed"),
            ("ann", "2025-02-10", 20.0, "completed"),
            ("ann", "2025-03-03", 30.0, "completed"),
            ("bob", "2025-01-20", 5.0, "completed"),
            ("cat", "2025-02-02", 8.0, "completed"),
            ("cat", "2025-04-01", 8.0, "completed"),
            ("dan", "2025-03-30", 50.0, "completed"),
            ("dan", "2025-04-02", 70.0, "cancelled"),
        ],
    )


def test_cohort_matrix_curve_and_heatmap(shop: FeatureTables) -> None:
    matrix = shop.fetch(cohort_retention(shop, AS_OF))
    cells = {
        (str(r.cohort)[:7], r.period_index): (r.cohort_size, r.active, r.complete)
        for r in matrix.itertuples()
    }
    assert cells == {
        ("2025-01", 0): (2, 2, True),
        ("2025-01", 1): (2, 1, True),
        ("2025-01", 2): (2, 1, True),
        ("2025-02", 0): (1, 1, True),
        ("2025-02", 2): (1, 1, False),  # April is still running
        ("2025-03", 0): (1, 1, True),
    }
    curve = retention_curve(matrix)
    assert curve.retention.tolist() == pytest.approx([1.0, 1 / 3, 1 / 2])
    assert curve.cohorts.tolist() == [3, 2, 1]
    # LTV: each period adds the spend per customer of the cohorts that lived through it:
    # +0 all four (73 / 4), +1 January and February (ann's 20 / 3), +2 January (ann's 30 / 2).
    assert curve.revenue_per_customer.tolist() == pytest.approx(
        [73 / 4, 73 / 4 + 20 / 3, 73 / 4 + 20 / 3 + 30 / 2]
    )
    grid = cohort_heatmap(matrix)
    feb = grid.loc[grid.index[1]]
    assert feb[1] == 0.0 and feb[2] == 1.0 and pd.isna(feb[3])  # nobody back in March
    ltv = revenue_curve(matrix)
    jan = ltv[ltv.cohort == matrix.cohort.iloc[0]].revenue_per_customer.tolist()
    assert jan == pytest.approx([7.5, 17.5, 32.5])


def _profiles(store: Store, attributes: dict[str, dict[str, object]]) -> None:
    rows = [{"user_id": u, "attributes": json.dumps(a)} for u, a in attributes.items()]
    table = pa.Table.from_pylist(rows)
    ingest_arrow(store, "users", table, source="t", now=dt.datetime(2030, 1, 1))


def test_curves_split_by_a_customer_attribute(store: Store, shop: FeatureTables) -> None:
    _profiles(store, {"ann": {"channel": "ads"}, "bob": {"channel": "ads"}, "cat": {"age": 30}})
    tables = FeatureTables.from_store(store)
    assert attribute_names(tables) == ["age", "channel"]
    curves = retention_curve(segment_matrix(tables, AS_OF, "channel"))
    ads = curves[curves.segment == "ads"]
    # January's ads cohort: ann and bob; ann is back in February and March.
    assert ads.retention.tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert ads.revenue_per_customer.tolist() == pytest.approx([7.5, 17.5, 32.5])
    assert ads.customers.tolist() == [2, 2, 2]
    unset = curves[curves.segment == NOT_SET]  # cat has no channel, dan no profile
    assert unset.customers.iloc[0] == 2 and unset.retention.iloc[1] == 0.0


def test_curves_split_by_the_category_of_the_first_purchase(
    store: Store, shop: FeatureTables
) -> None:
    with pytest.raises(InvalidInputError, match="needs both"):
        segment_matrix(shop, AS_OF, "first_category")  # orders only: nothing to read it from
    now = dt.datetime(2030, 1, 1)
    items = [{"item_id": "tea", "title": "tea", "category": "drinks"},
             {"item_id": "cup", "title": "cup", "category": "kitchen"}]  # fmt: skip
    ingest_arrow(store, "items", pa.Table.from_pylist(items), source="t", now=now)
    events = [  # ann bought tea first and a cup later; bob a cup; cat and dan only ordered
        ("ann", "cup", "2025-02-10"), ("ann", "tea", "2025-01-05"), ("bob", "cup", "2025-01-20"),
        ("ann", "tea", "2025-05-01"),  # after the day: not read
    ]  # fmt: skip
    rows = [{"user_id": u, "item_id": i, "event_type": "purchase", "ts": t} for u, i, t in events]
    ingest_arrow(store, "events", pa.Table.from_pylist(rows), source="t", now=now)
    curves = retention_curve(
        segment_matrix(FeatureTables.from_store(store), AS_OF, "first_category")
    )
    firsts = curves[curves.period_index == 0].set_index("segment").customers.to_dict()
    assert firsts == {"drinks": 1, "kitchen": 1, NOT_SET: 2}
    drinks = curves[curves.segment == "drinks"]
    assert drinks.retention.tolist() == [1.0, 1.0, 1.0]  # ann, back in February and March


def test_curves_split_by_rfm_segment_cover_every_customer(shop: FeatureTables) -> None:
    matrix = segment_matrix(shop, AS_OF, "rfm")
    first = matrix[matrix.period_index == 0]
    assert first.cohort_size.sum() == 4 and NOT_SET not in set(matrix.segment)
    curves = retention_curve(matrix)
    assert (curves.groupby("segment").revenue_per_customer.diff().dropna() >= 0).all()


def test_a_split_by_an_attribute_nobody_has_names_the_ones_that_exist(
    store: Store, shop: FeatureTables
) -> None:
    _profiles(store, {"ann": {"channel": "ads"}})
    tables = FeatureTables.from_store(store)
    with pytest.raises(InvalidInputError, match=r"'country'.*channel"):
        segment_matrix(tables, AS_OF, "country")
    # The name becomes a JSON path: quotes, dots and '$' are refused before any query.
    for name in ("$", "a.b", "x'); DROP TABLE orders; --", 'a"b', ""):
        with pytest.raises(InvalidInputError, match="cannot split by"):
            segment_matrix(tables, AS_OF, name)


def test_repeat_rate_and_active_users(shop: FeatureTables) -> None:
    rate = shop.fetch(repeat_purchase_rate(shop, AS_OF)).iloc[0]
    assert (rate.customers, rate.repeat_customers, rate.rate) == (4, 2, 0.5)
    monthly = shop.fetch(active_users(shop, AS_OF, "month"))
    assert monthly.active_users.tolist() == [2, 2, 2, 2]


def test_an_empty_shop_gives_empty_tables_not_errors(store: Store) -> None:
    tables = FeatureTables.from_store(store)
    matrix = tables.fetch(cohort_retention(tables, AS_OF))
    assert matrix.empty
    assert retention_curve(matrix).empty and cohort_heatmap(matrix).empty
    assert revenue_curve(matrix).empty
    split = segment_matrix(tables, AS_OF, "rfm")
    assert split.empty and retention_curve(split).empty
    assert tables.fetch(rfm_segments(tables, AS_OF)).empty
    assert tables.fetch(repeat_purchase_rate(tables, AS_OF)).iloc[0].customers == 0


def test_the_segment_grid_names_every_score_pair_once() -> None:
    cells = [(r, f) for s in SEGMENTS for r, f in itertools.product(s.recency, s.frequency)]
    assert sorted(cells) == sorted(itertools.product(range(1, 6), repeat=2))


def test_rfm_segments_name_the_obvious_customers(store: Store) -> None:
    rows = []
    for i in range(10):  # ten customers: u9 buys most and most recently, u0 least and longest ago
        for k in range(i + 1):
            day = dt.date(2025, 1, 1) + dt.timedelta(days=10 * i + k)
            rows.append((f"u{i}", day.isoformat(), 10.0, "completed"))
    tables = _orders(store, rows)
    segments = tables.fetch(rfm_segments(tables, AS_OF)).set_index("user_id")
    assert segments.loc["u9", "segment"] == "champions"
    assert segments.loc["u0", "segment"] == "hibernating"
    assert (segments.loc["u9", ["r_score", "f_score"]] == 5).all()


def test_segment_moves_count_every_customer_from_their_earlier_segment(store: Store) -> None:
    rows = []
    for i in range(10):  # as above; then u9 stops while u0 starts buying every few days
        for k in range(i + 1):
            day = dt.date(2025, 1, 1) + dt.timedelta(days=10 * i + k)
            rows.append((f"u{i}", day.isoformat(), 10.0, "completed"))
    rows += [("u0", f"2025-04-{d:02d}", 10.0, "completed") for d in (1, 4, 7, 10, 14)]
    rows.append(("late", "2025-04-12", 10.0, "completed"))
    tables = _orders(store, rows)
    start = dt.date(2025, 3, 15)
    moves = tables.fetch(segment_moves(tables, start, AS_OF))
    before = tables.fetch(rfm_segments(tables, start)).set_index("user_id").segment
    after = tables.fetch(rfm_segments(tables, AS_OF)).set_index("user_id").segment
    expected = (
        pd.DataFrame({"from_segment": before.reindex(after.index).fillna(NOT_YET), "to": after})
        .value_counts()
        .to_dict()
    )
    got = {(r.from_segment, r.to_segment): r.customers for r in moves.itertuples()}
    assert got == expected and moves.customers.is_monotonic_decreasing
    assert got[(before["u0"], after["u0"])] >= 1 and after["u0"] != before["u0"]
    assert (NOT_YET, after["late"]) in got
    counts = count_moves(moves)
    assert (counts.earlier, counts.first_time) == (8, 3)  # u8, u9 and "late" start later
    assert counts.changed == sum(before[u] != after[u] for u in before.index)
    assert counts.slipped == sum(
        before[u] not in LAPSING and after[u] in LAPSING for u in before.index
    )


def test_a_moves_cell_lists_the_customers_behind_its_count(store: Store) -> None:
    from retain.retention.members import segment_members

    rows = [(f"u{i}", f"2025-0{1 + i % 3}-{1 + i:02d}", 10.0, "completed") for i in range(20)]
    rows += [(f"u{i}", "2025-04-10", 10.0, "completed") for i in range(0, 20, 3)]
    tables = _orders(store, rows)
    last = dt.date(2025, 4, 10)  # the last order: segment_members counts back from it
    moves = tables.fetch(segment_moves(tables, last - dt.timedelta(days=40), last))
    for cell in moves.itertuples():
        found = segment_members(
            store, "rfm", str(cell.to_segment), moved_from=str(cell.from_segment), days=40
        )
        assert found is not None and len(found.customers) == cell.customers, cell
    assert segment_members(store, "rfm", "champions", moved_from="vips") is None
    assert segment_members(store, "cluster", "0", moved_from="champions") is None


def test_a_named_segment_that_cannot_be_used_says_why(store: Store) -> None:
    from retain.errors import NotFoundError
    from retain.retention.members import UnknownSegmentError, find_segment

    with pytest.raises(UnknownSegmentError, match="no orders yet"):
        find_segment(store, "rfm", "champions")
    _orders(
        store, [(f"u{i}", f"2025-0{1 + i % 3}-{1 + i:02d}", 10.0, "completed") for i in range(9)]
    )
    assert len(find_segment(store, "rfm", "hibernating").customers) > 0
    with pytest.raises(UnknownSegmentError, match="'vips'; segments: champions, loyal"):
        find_segment(store, "rfm", "vips")
    assert issubclass(UnknownSegmentError, NotFoundError)
    wrongs: tuple[tuple[dict[str, Any], str], ...] = (
        ({"kind": "tastes"}, "one of rfm, cluster, taste; got 'tastes'"),
        ({"days": 0}, "at least 1 day; got 0"),
        ({"moved_from": "vips"}, "'vips' is no RFM segment; use 'not a customer yet'"),
        ({"kind": "cluster", "moved_from": "champions"}, "needs kind rfm"),
    )
    for wrong, message in wrongs:
        with pytest.raises(InvalidInputError, match=message):
            find_segment(store, wrong.pop("kind", "rfm"), "hibernating", **wrong)


def test_rankings_are_kept_until_the_orders_change(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retain.retention import by_orders
    from retain.retention.by_orders import ByOrders

    ranked: list[dt.date] = []

    def counted(tables: FeatureTables, day: dt.date) -> object:
        ranked.append(day)
        return rfm_segments(tables, day)

    monkeypatch.setattr(by_orders, "rfm_segments", counted)
    _orders(store, [("ann", "2025-01-05", 10.0, "completed")])
    first = ByOrders.of(store).rfm(AS_OF)
    first.loc[0, "segment"] = "edited by a caller"  # callers get copies
    again = ByOrders.of(store).rfm(AS_OF)
    assert ranked == [AS_OF] and again.segment.tolist() != ["edited by a caller"]
    bob = {"order_id": "bob-1", "user_id": "bob", "ts": "2025-03-01", "amount": 5.0}
    ingest_arrow(store, "orders", pa.Table.from_pylist([bob]), source="t")
    assert sorted(ByOrders.of(store).rfm(AS_OF).user_id) == ["ann", "bob"]
    assert ranked == [AS_OF, AS_OF]
    refunded = {**bob, "refunded_amount": 2.0, "refunded_ts": "2025-03-02"}
    ingest_arrow(store, "orders", pa.Table.from_pylist([refunded]), source="refund")
    ByOrders.of(store).rfm(AS_OF)
    assert ranked == [AS_OF] * 3  # a refund changes the spend the rankings read
