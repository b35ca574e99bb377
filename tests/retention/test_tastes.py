"""Taste segments: customers grouped by what they buy, stored beside the behaviour segments."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables
from retain.features.taste import OTHER, taste_features
from retain.retention.cluster_training import (
    BEHAVIOUR,
    TASTE,
    load_clusters,
    stored_cluster_of,
    stored_clusters,
    train_segments,
)
from retain.retention.members import find_segment

CUTOFF = dt.date(2025, 6, 30)
CATEGORIES = ("garden", "books", "toys")


def _shop(store: Store, late: bool = False) -> None:
    """30 customers per category, each buying mostly (4 of 5) from it; one later purchase."""
    items = [
        {"item_id": f"{c}-{i}", "title": f"{c} {i}", "category": c}
        for c in (*CATEGORIES, "pets")
        for i in range(3)
    ]
    events, orders = [], []
    for n, category in enumerate(CATEGORIES):
        for u in range(30):
            user = f"{category}-fan-{u}"
            bought = [f"{category}-{u % 3}"] * 4 + [f"{CATEGORIES[(n + 1) % 3]}-0"]
            for k, item in enumerate(bought):
                ts = f"2025-0{1 + k}-{1 + u % 28:02d}"
                events.append({"event_id": f"{user}-{k}", "user_id": user, "item_id": item,
                               "event_type": "purchase", "ts": ts})  # fmt: skip
                orders.append({"order_id": f"{user}-{k}", "user_id": user, "ts": ts,
                               "amount": 20.0})  # fmt: skip
    if late:  # after the cutoff: must change nothing
        events.append({"event_id": "late", "user_id": "garden-fan-0", "item_id": "pets-0",
                       "event_type": "purchase", "ts": "2025-07-15"})  # fmt: skip
        # A purchase event with no order behind it does not make a customer.
        events.append({"event_id": "ghost", "user_id": "ghost", "item_id": "pets-0",
                       "event_type": "purchase", "ts": "2025-03-01"})  # fmt: skip
    now = dt.datetime(2030, 1, 1)
    ingest_arrow(store, "items", pa.Table.from_pylist(items), source="t", now=now)
    ingest_arrow(store, "events", pa.Table.from_pylist(events), source="t", now=now)
    ingest_arrow(store, "orders", pa.Table.from_pylist(orders), source="t", now=now)


def test_taste_is_the_share_of_purchases_per_category_up_to_the_cutoff(store: Store) -> None:
    _shop(store, late=True)
    shares = taste_features(FeatureTables.from_store(store), CUTOFF, top=2).set_index("user_id")
    assert list(shares.columns) == ["taste:books", "taste:garden", OTHER]  # ties: stable order
    assert shares.sum(axis=1).round(9).eq(1.0).all()
    fan = shares.loc["garden-fan-0"]
    assert fan["taste:garden"] == pytest.approx(0.8)  # the July pets purchase is not counted
    assert shares.loc["toys-fan-0", OTHER] == pytest.approx(0.8)  # toys is not in the top 2
    assert len(shares) == 90 and "ghost" not in shares.index
    with pytest.raises(InvalidInputError, match="no purchases of catalogued items"):
        taste_features(FeatureTables.from_store(store), dt.date(2024, 12, 31))


def test_taste_segments_find_who_buys_what_and_are_stored_apart(
    store: Store, tmp_path: Path
) -> None:
    _shop(store)
    models = tmp_path / "models"
    tastes = train_segments(store, models, kind=TASTE, as_of=CUTOFF)
    assert sorted(c.customers for c in tastes.clusters) == [30, 30, 30]
    for category in CATEGORIES:
        found = [c for c in tastes.clusters if f"buy {category} more than most" in c.description]
        assert len(found) == 1, (category, tastes.clusters)
        assert "(80% of their purchases, 33% shop-wide)" in found[0].description
        label = found[0].label
        assert stored_cluster_of(store, f"{category}-fan-7", TASTE) == label
        members = find_segment(store, "taste", str(label))
        assert members.title == f"taste segment {label}"
        assert {u.split("-")[0] for u in members.customers.user_id} == {category}
    assert stored_clusters(store, BEHAVIOUR) is None  # each kind has its own model and tables
    assert store.has_table("customer_tastes") and not store.has_table("customer_clusters")
    again = train_segments(store, models, kind=TASTE, as_of=CUTOFF)
    assert again.carried == sorted(c.label for c in tastes.clusters)
    with pytest.raises(InvalidInputError, match="kind must be one of rfm, cluster, taste"):
        find_segment(store, "tastes", "0")


def test_cohort_curves_split_by_the_stored_taste_segments(store: Store, tmp_path: Path) -> None:
    from retain.retention.analytics import retention_curve, segment_matrix, split_caveat

    _shop(store)
    with pytest.raises(InvalidInputError, match="no taste segments are stored yet"):
        segment_matrix(FeatureTables.from_store(store), CUTOFF, "taste")
    tastes = train_segments(store, tmp_path / "models", kind=TASTE, as_of=CUTOFF)
    curves = retention_curve(segment_matrix(FeatureTables.from_store(store), CUTOFF, "taste"))
    names = {f"{c.label}: {c.description.split(' (')[0]}" for c in tastes.clusters}
    assert set(curves.segment) == names  # "2: buy toys more than most"
    assert (curves[curves.period_index == 0].customers == 30).all()
    assert "stored by the last `retain train segments`" in split_caveat("taste")


def test_segments_are_listed_once_stored(store: Store, tmp_path: Path) -> None:
    from retain.retention.members import list_segments

    assert list_segments(store, "rfm") is None  # no orders yet
    _shop(store)
    assert list_segments(store, "taste") is None  # not trained: no numbers that may change
    rfm = list_segments(store, "rfm")
    assert rfm is not None and rfm.segments.customers.sum() == 90 and rfm.model_version is None
    tastes = train_segments(store, tmp_path / "models", kind=TASTE, as_of=CUTOFF)
    listed = list_segments(store, "taste")
    assert listed is not None and listed.model_version == tastes.version
    assert listed.segments.name.tolist() == [str(c.label) for c in tastes.clusters]
    with pytest.raises(InvalidInputError, match="one of rfm, cluster, taste"):
        list_segments(store, "vips")


def _long_tail_shop(store: Store) -> None:
    """:func:`_shop`'s fans, and half of them also buying from 300 small categories."""
    _shop(store)
    tail = [f"tail{i:03d}" for i in range(300)]
    items = [{"item_id": c, "title": c, "category": c} for c in tail]
    rng = np.random.default_rng(0)
    events, orders = [], []
    for category in CATEGORIES:
        for u in range(0, 30, 2):  # every other fan of each category explores the tail
            user = f"{category}-fan-{u}"
            for k, item in enumerate(rng.choice(tail, 8, replace=False)):
                ts = f"2025-06-{1 + k:02d}"
                events.append({"event_id": f"{user}-t{k}", "user_id": user, "item_id": item,
                               "event_type": "purchase", "ts": ts})  # fmt: skip
                orders.append({"order_id": f"{user}-t{k}", "user_id": user, "ts": ts,
                               "amount": 5.0})  # fmt: skip
    now = dt.datetime(2030, 1, 1)
    ingest_arrow(store, "items", pa.Table.from_pylist(items), source="t", now=now)
    ingest_arrow(store, "events", pa.Table.from_pylist(events), source="t", now=now)
    ingest_arrow(store, "orders", pa.Table.from_pylist(orders), source="t", now=now)


def test_the_long_tail_of_categories_is_no_taste(store: Store, tmp_path: Path) -> None:
    """A shop with hundreds of small categories puts most purchases in "(other
    categories)". Splitting customers by how much of that residue they buy names
    nothing a marketer can act on (on dunnhumby it made 87% of customers two
    segments, "buy (other categories) more than most" and "seldom buy" them), so
    segments are fitted on the named categories alone; the shares still count
    every purchase."""
    _long_tail_shop(store)
    shares = taste_features(FeatureTables.from_store(store), CUTOFF)
    assert OTHER in shares.columns and shares[OTHER].max() > 0.5
    tastes = train_segments(store, tmp_path / "models", kind=TASTE, as_of=CUTOFF)
    assert OTHER not in load_clusters(tmp_path / "models", kind=TASTE).columns
    assert not any("other categories" in c.description for c in tastes.clusters), tastes


def test_customers_dabbling_in_rare_categories_stay_with_their_taste(
    store: Store, tmp_path: Path
) -> None:
    """Shares are compared as parts of one whole (square roots, one common
    spread), not each on its own scale: scaled by its own spread, a category
    one customer bought once set that customer far from everyone, and k-means
    gave such customers segments of their own."""
    _shop(store)
    now = dt.datetime(2030, 1, 1)
    rare = ("fish", "birds", "reptiles", "insects")
    items = [{"item_id": c, "title": c, "category": c} for c in rare]
    ingest_arrow(store, "items", pa.Table.from_pylist(items), source="t", now=now)
    dabblers = {f"garden-fan-{u}": category for u, category in enumerate(rare)}
    bought = [{"event_id": f"{u}-r", "user_id": u, "item_id": c, "event_type": "purchase",
               "ts": "2025-06-01"} for u, c in dabblers.items()]  # fmt: skip
    ingest_arrow(store, "events", pa.Table.from_pylist(bought), source="t", now=now)
    orders = [{"order_id": f"{u}-r", "user_id": u, "ts": "2025-06-01",
               "amount": 20.0} for u in dabblers]  # fmt: skip
    ingest_arrow(store, "orders", pa.Table.from_pylist(orders), source="t", now=now)
    tastes = train_segments(store, tmp_path / "models", kind=TASTE, as_of=CUTOFF)
    assert sorted(c.customers for c in tastes.clusters) == [30, 30, 30]
    assert not any(c in d for c in rare for d in (t.description for t in tastes.clusters))
    garden = stored_cluster_of(store, "garden-fan-10", TASTE)
    assert {stored_cluster_of(store, u, TASTE) for u in dabblers} == {garden}
