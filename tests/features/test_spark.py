"""The same feature expressions on Spark give the same numbers as on the embedded store."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator

import pandas as pd
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow, ingest_file
from retain.demo import DEMO_FILES, generate_demo_shop
from retain.features.customer import FeatureTables, customer_features, purchase_outcomes
from retain.retention.cluster_training import TASTE, train_segments

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java")

CUTOFF = dt.date(2026, 10, 1)
NAMES = ("orders", "events", "items", "reviews", "conversations", "users")


@pytest.fixture(scope="module")
def spark_and_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, Store]]:
    import ibis
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    folder = tmp_path_factory.mktemp("spark-shop")
    generate_demo_shop(folder / "demo", seed=3, n_users=300, end=dt.datetime(2026, 11, 1))
    store = Store.open("duckdb://:memory:")
    for name, table in DEMO_FILES.items():
        ingest_file(store, table, folder / "demo" / name)
    _edit_reviews(store)
    _refund_in_part(store)
    train_segments(store, folder / "models", kind=TASTE, as_of=CUTOFF)
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", str(folder / "warehouse"))
        .getOrCreate()
    )
    backend = ibis.pyspark.connect(session)
    histories = ("review_versions", "order_refund_versions")
    for name in (*NAMES, *histories, TASTE.customers_table, TASTE.segments_table):
        # Straight from the store's Arrow table: through pandas, a field no record fills
        # (no consent recorded) has no type, and an empty number turns NaN, not NULL.
        session.createDataFrame(store.table(name)).write.saveAsTable(name)
    yield backend, store
    session.stop()
    store.close()


def _twenty_before_the_cutoff(store: Store, select: str) -> pd.DataFrame:
    """Twenty rows of ``select`` (it ends in a WHERE clause) dated over 30 days before
    the cutoff: old enough that a change dated around the cutoff rewrites them."""
    found = store.query_df(
        f"{select} AND ts < ? ORDER BY 1 LIMIT 20",
        [dt.datetime.combine(CUTOFF, dt.time()) - dt.timedelta(days=30)],
    )
    assert len(found) == 20
    return found


def _around_the_cutoff(n: int, later_days: int = 0) -> list[dt.datetime]:
    """``n`` times alternately 5 days after and 5 days before the cutoff (+ ``later_days``)."""
    after = dt.datetime.combine(CUTOFF, dt.time()) + dt.timedelta(days=5 + later_days)
    return [after - dt.timedelta(days=10 * (i % 2)) for i in range(n)]


def _edit_reviews(store: Store) -> None:
    """Writers rewrite twenty reviews as five-star ones, half of them after the
    cutoff: features at the cutoff read those as they were, on both engines."""
    import pyarrow as pa

    reviews = _twenty_before_the_cutoff(
        store,
        "SELECT review_id, user_id, item_id, ts, text FROM reviews WHERE user_id IS NOT NULL",
    )
    reviews["edited_ts"] = _around_the_cutoff(len(reviews))
    reviews["rating"], reviews["text"] = 5, "Edited: all sorted, thank you"
    report = ingest_arrow(store, "reviews", pa.Table.from_pandas(reviews), source="edits")
    assert report.updated == 20


def _refund_in_part(store: Store) -> None:
    """Twenty orders get part of their money back, half after the cutoff, and ten of
    them a second refund later still: spend at the cutoff nets only the refunds made
    by then, on both engines."""
    import pyarrow as pa

    orders = _twenty_before_the_cutoff(
        store,
        "SELECT order_id, user_id, ts, amount FROM orders "
        "WHERE status = 'completed' AND amount > 10",
    )
    for share, count, later_days in ((0.25, 20, 0), (0.5, 10, 20)):
        batch = orders.head(count).copy()
        batch["refunded_ts"] = _around_the_cutoff(count, later_days)
        batch["refunded_amount"] = (batch.amount * share).round(2)
        report = ingest_arrow(store, "orders", pa.Table.from_pandas(batch), source="refunds")
        assert report.updated == count


def _same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    order = ["user_id"]
    left, right = left.sort_values(order).reset_index(drop=True), right.sort_values(order)
    right = right.reset_index(drop=True)
    for frame in (left, right):
        if "first_day" in frame:
            frame["first_day"] = pd.to_datetime(frame["first_day"]).dt.date
    pd.testing.assert_frame_equal(left, right, check_dtype=False, atol=1e-9)


def test_customer_features_match_duckdb(spark_and_store: tuple[object, Store]) -> None:
    backend, store = spark_and_store
    local = FeatureTables.from_store(store)
    remote = FeatureTables.from_backend(backend)  # type: ignore[arg-type]
    expected = local.fetch(customer_features(local, CUTOFF))
    assert len(expected) > 50
    _same(expected, remote.fetch(customer_features(remote, CUTOFF)))
    window = (CUTOFF, CUTOFF + dt.timedelta(days=30))
    _same(
        local.fetch(purchase_outcomes(local, *window)),
        remote.fetch(purchase_outcomes(remote, *window)),
    )


def test_batch_scoring_on_spark_matches_duckdb(spark_and_store: tuple[object, Store]) -> None:
    """A model trained on the embedded store scores the same customers alike on Spark."""
    from retain.predict.model import BehaviourModel

    backend, store = spark_and_store
    local = FeatureTables.from_store(store)
    model = BehaviourModel(horizon_days=30, seed=0).fit(local, CUTOFF)
    expected = model.predict(local, CUTOFF)
    remote = model.predict(FeatureTables.from_backend(backend), CUTOFF)  # type: ignore[arg-type]
    assert len(expected) > 50
    numbers = ["user_id", "p_alive", "repurchase_probability", "churn_risk", "expected_purchases"]
    _same(expected[numbers], remote[numbers])
    assert (
        expected.sort_values("user_id").reasons.tolist()
        == remote.sort_values("user_id").reasons.tolist()
    )


@pytest.mark.parametrize("by", [None, "rfm", "first_category", "channel", "taste"])
def test_cohort_curves_on_spark_match_duckdb(
    spark_and_store: tuple[object, Store], by: str | None
) -> None:
    """The retention analytics are the same Ibis code: a bigger shop runs them on Spark.

    The split by a customer attribute (``channel``) reads the profiles' JSON
    with Spark's own ``get_json_object``, not a Python UDF.
    """
    from retain.retention.analytics import cohort_retention, retention_curve, segment_matrix

    backend, store = spark_and_store
    curves = []
    for tables in (FeatureTables.from_store(store), FeatureTables.from_backend(backend)):  # type: ignore[arg-type]
        if by is None:
            matrix = tables.fetch(cohort_retention(tables, CUTOFF, "month"))
        else:
            matrix = segment_matrix(tables, CUTOFF, by)
        matrix["cohort"] = pd.to_datetime(matrix["cohort"]).dt.date
        curves.append(retention_curve(matrix.sort_values(list(matrix.columns[:3]))))
    assert len(curves[0]) > 3
    if by == "channel":
        assert {"ads", "organic"} <= set(curves[0].segment)  # read from the JSON, not "not set"
    if by == "taste":  # the stored segments, named by number and what sets them apart
        assert any(s.endswith("more than most") for s in curves[0].segment), curves[0].segment
    pd.testing.assert_frame_equal(curves[0], curves[1], check_dtype=False, atol=1e-9)


def test_taste_segments_assign_alike_on_spark(spark_and_store: tuple[object, Store]) -> None:
    """Taste shares, and a taste model's segments, are the same on Spark as on DuckDB."""
    from retain.features.taste import taste_features
    from retain.retention.clusters import fit_clusters

    backend, store = spark_and_store
    local = taste_features(FeatureTables.from_store(store), CUTOFF)
    remote = taste_features(FeatureTables.from_backend(backend), CUTOFF)  # type: ignore[arg-type]
    assert len(local) > 50
    _same(local, remote)
    model = fit_clusters(local, k=4, columns=TASTE.columns(local))
    _same(model.assign(local), model.assign(remote))


def test_order_item_lines_read_alike_on_spark(spark_and_store: tuple[object, Store]) -> None:
    """The orders' JSON item lists unnest the same with each engine's own ``from_json``."""
    from retain.features.purchases import order_item_purchases

    backend, store = spark_and_store
    frames = []
    for tables in (FeatureTables.from_store(store), FeatureTables.from_backend(backend)):  # type: ignore[arg-type]
        lines = order_item_purchases(tables)
        assert lines is not None
        frame = tables.fetch(lines)
        frame["ts"] = pd.to_datetime(frame["ts"])
        frames.append(frame.sort_values(["user_id", "ts", "item_id"]).reset_index(drop=True))
    assert len(frames[0]) > 100
    pd.testing.assert_frame_equal(frames[0], frames[1], check_dtype=False)
