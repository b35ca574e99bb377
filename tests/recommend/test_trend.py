"""``retain bench popularity``: half-lives chosen on early cutoffs, reported on later ones."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.errors import InvalidInputError
from retain.recommend.sequences import ItemIndex
from retain.recommend.trend import HALF_LIVES, purchases, run_popularity_benchmark, score_cutoff


def test_the_benchmark_on_the_demo_shop_chooses_early_and_reports_late() -> None:
    result = run_popularity_benchmark(None)
    assert result["chosen_half_life_days"] in HALF_LIVES
    assert set(result["choose_cutoffs"]).isdisjoint(result["report_cutoffs"])
    assert {"hr@10", "ndcg@10"} <= set(result["metrics"])
    assert set(result["by_group"]) == {"chosen", "default", "all_time_counts"}
    for group in result["by_group"].values():
        assert 0.0 <= group["all"]["ndcg@10"] <= group["all"]["hr@10"] <= 1.0


def test_a_trend_is_scored_as_a_hit_only_by_recent_counts() -> None:
    """Item A sold all year; item B only lately, and B is what the next month buys."""
    rows = [("old", "A", f"2024-{m:02d}-10") for m in range(1, 10) for _ in range(3)]
    rows += [("trend", "B", "2024-09-25"), ("trend2", "B", "2024-09-28")]
    rows += [("new", "B", "2024-10-05")]
    bought = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    bought["ts"] = pd.to_datetime(bought.ts)
    items = ItemIndex.from_ids(["A", "B"])
    scores = score_cutoff(
        bought, items, pd.Timestamp("2024-10-01"), horizon_days=30, k=1, half_lives=(None, 14)
    )
    assert scores["all_time"]["new"]["hr@1"] == 0.0
    assert scores["14d"]["new"]["hr@1"] == 1.0


def test_orders_without_items_are_a_clear_error(store: Store) -> None:
    ingest_arrow(
        store,
        "orders",
        pa.table({"order_id": ["o1"], "user_id": ["u"], "ts": ["2024-01-01"], "amount": [5.0]}),
        source="test",
    )
    with pytest.raises(InvalidInputError, match=r"orders\.items"):
        purchases(store)
