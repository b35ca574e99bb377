"""A campaign from the demo shop's scores: stored, exported, within budget, reasons given."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from retain.data import Store
from retain.data.ingest import ingest_file
from retain.demo import DEMO_FILES, generate_demo_shop
from retain.errors import NotFoundError
from retain.features.customer import FeatureTables
from retain.predict.scoring import train_and_score
from retain.recommend import RecommendSettings
from retain.recommend.scoring import train_and_recommend
from retain.retention.campaign import INTERVENTIONS_TABLE, build_campaign, recent_complaints


def test_campaigns_are_stored_exported_and_within_budget(tmp_path: Path) -> None:
    generate_demo_shop(tmp_path / "demo", seed=5, n_users=600)
    with Store.open(tmp_path / "retain.duckdb") as store:
        for name, table in DEMO_FILES.items():
            ingest_file(store, table, tmp_path / "demo" / name)
        with pytest.raises(NotFoundError, match="retain train predict"):
            build_campaign(store, 100.0)
        trained = train_and_score(store, tmp_path / "models", horizon_days=60)
        first = build_campaign(store, 100.0, export=tmp_path / "out" / "campaign.csv")
        assert 0 < first.expected_cost <= 100.0 + 1e-9
        assert first.customers_considered == trained.customers_scored
        exported = pd.read_csv(tmp_path / "out" / "campaign.csv")
        assert len(exported) == len(first.plan) and set(exported.campaign_id) == {first.campaign_id}
        assert exported.reason.str.contains("churn risk").all()
        complained = recent_complaints(FeatureTables.from_store(store), trained.cutoff)
        care = first.plan[first.plan.action == "care_contact"]
        assert set(care.user_id) <= complained
        second = build_campaign(store, 20.0, holdout=0.3, export=tmp_path / "held.csv")
        assert len(second.plan) and not _given(first.plan) & _given(second.plan)  # cooling down
        assert second.experiment == f"campaign-{second.campaign_id}"
        arms = store.query_df("SELECT user_id, variant FROM assignments")
        assert set(arms.user_id) == set(second.plan.user_id)
        acted_on = set(pd.read_csv(tmp_path / "held.csv").user_id)
        assert acted_on == set(arms[arms.variant == "treatment"].user_id)
        stored = store.query_df(
            f"SELECT campaign_id, count(*) AS n FROM {INTERVENTIONS_TABLE} GROUP BY campaign_id"
        )
        assert dict(zip(stored.campaign_id, stored.n, strict=True)) == {
            first.campaign_id: len(first.plan),
            second.campaign_id: len(second.plan),
        }
        assert "recommended_items" not in exported.columns  # no recommender trained yet
        quick = RecommendSettings(sequential=False, text_model=None, holdout_users=200)
        train_and_recommend(store, tmp_path / "models", quick, k=5)
        build_campaign(store, 50.0, export=tmp_path / "with-items.csv")
        with_items = pd.read_csv(tmp_path / "with-items.csv")
        lists = store.query_df("SELECT user_id, item_id FROM recommendations WHERE rank = 1")
        first_item = dict(zip(lists.user_id, lists.item_id, strict=True))
        assert all(
            row.recommended_items.split(";")[0] == first_item[row.user_id]
            and len(row.recommended_items.split(";")) == 3
            for row in with_items.itertuples()
        )


def _given(plan: pd.DataFrame) -> set[tuple[str, str]]:
    """(customer, kind of action): both coupons are one kind."""
    return {
        (str(u), "coupon" if str(a).startswith("coupon_") else str(a))
        for u, a in zip(plan.user_id, plan.action, strict=True)
    }


def test_a_review_the_sentiment_model_scored_negative_counts_as_a_complaint(
    tmp_path: Path,
) -> None:
    """A bad review without a rating is still a bad experience: its writer may get care."""
    import datetime as dt

    import pyarrow as pa

    from retain.retention.campaign import negative_reviewers

    with Store.open(tmp_path / "retain.duckdb") as store:
        assert negative_reviewers(store, dt.date(2025, 6, 30)) == set()
        store.write_table(
            "review_scores",
            pa.table(
                {
                    "review_id": ["r1", "r2", "r3"],
                    "user_id": ["u1", "u2", "u3"],
                    "ts": [
                        dt.datetime(2025, 6, 20),
                        dt.datetime(2025, 6, 21),
                        dt.datetime(2025, 1, 1),
                    ],
                    "label": [0, 1, 0],
                }
            ),
        )
        assert negative_reviewers(store, dt.date(2025, 6, 30), days=30) == {"u1"}
