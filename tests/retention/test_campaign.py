"""A campaign from the demo shop's scores: stored, exported, within budget, reasons given."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow, ingest_file
from retain.data.summary import scores_summary
from retain.demo import DEMO_FILES, generate_demo_shop
from retain.errors import NotFoundError
from retain.features.customer import FeatureTables, customer_features
from retain.predict.scoring import train_and_score
from retain.recommend import RecommendSettings
from retain.recommend.scoring import train_and_recommend
from retain.retention.campaign import (
    INTERVENTIONS_TABLE,
    build_campaign,
    campaign_summaries,
    learned_uplift,
    recent_complaints,
)
from retain.retention.policy import DEFAULT_ACTIONS, PICKS_MESSAGE, Action


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
        # No recommender has run: nobody has picks, so nobody gets a message with them.
        assert first.without_picks == first.customers_considered
        assert PICKS_MESSAGE not in set(first.plan.action)
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
        # An audience of customers no campaign has reached yet, and one unknown id.
        scored = store.query_df("SELECT user_id FROM user_scores ORDER BY user_id").user_id
        reached = set(first.plan.user_id) | set(second.plan.user_id)
        few = set(scored[~scored.isin(reached)].iloc[::2]) | {"nobody-at-all"}
        narrowed = build_campaign(store, 1000.0, audience=few, audience_name="every other one")
        assert narrowed.customers_considered == len(few) - 1  # only scored customers count
        assert len(narrowed.plan) and set(narrowed.plan.user_id) <= few
        summaries = campaign_summaries(store).set_index("campaign_id")
        assert summaries.audience[narrowed.campaign_id] == "every other one"
        assert pd.isna(summaries.audience[first.campaign_id])
        assert summaries.customers[narrowed.campaign_id] == len(narrowed.plan)
        assert summaries.held_out[second.campaign_id] > 0
        assert summaries.experiment[second.campaign_id] == second.experiment
        assert pd.isna(summaries.experiment[first.campaign_id])
        stored = store.query_df(
            f"SELECT campaign_id, count(*) AS n FROM {INTERVENTIONS_TABLE} GROUP BY campaign_id"
        )
        assert dict(zip(stored.campaign_id, stored.n, strict=True)) == {
            first.campaign_id: len(first.plan),
            second.campaign_id: len(second.plan),
            narrowed.campaign_id: len(narrowed.plan),
        }
        assert "recommended_items" not in exported.columns  # no recommender trained yet
        # The shop's own actions: a dearer coupon of the built-in kind, so last
        # campaigns' coupons still cool it down, and a message with picks under
        # another name, which nobody can get before the recommender has run.
        own = (
            Action("coupon_40", 0.0, 40.0, 0.10, cooldown_days=30, kind="coupon"),
            Action("weekly_picks", 0.05, 0.0, 0.05, needs_picks=True),
        )
        shops = build_campaign(store, 300.0, actions=own)
        assert set(shops.plan.action) == {"coupon_40"}
        assert shops.without_picks == shops.customers_considered
        couponed = {u for u, kind in _given(first.plan) | _given(narrowed.plan) if kind == "coupon"}
        assert couponed and not couponed & set(shops.plan.user_id)
        kinds = store.query_df(
            f"SELECT DISTINCT action, action_kind FROM {INTERVENTIONS_TABLE} "
            f"WHERE campaign_id = '{shops.campaign_id}'"
        )
        assert kinds.to_dict("records") == [{"action": "coupon_40", "action_kind": "coupon"}]
        quick = RecommendSettings(sequential=False, text_model=None, holdout_users=200)
        train_and_recommend(store, tmp_path / "models", quick, k=5)
        picked = build_campaign(store, 50.0, export=tmp_path / "with-items.csv")
        with_items = pd.read_csv(tmp_path / "with-items.csv")
        lists = store.query_df("SELECT user_id, item_id FROM recommendations WHERE rank = 1")
        messaged = set(picked.plan[picked.plan.action == PICKS_MESSAGE].user_id)
        assert messaged and messaged <= set(lists.user_id)
        assert picked.without_picks == len(set(scored) - set(lists.user_id))
        weekly = build_campaign(store, 50.0, actions=own[1:])
        assert set(weekly.plan.action) == {"weekly_picks"}
        assert set(weekly.plan.user_id) <= set(lists.user_id)
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
    """A bad review without a rating is still a bad experience: its writer may get care.

    The churn features count the same reviews, so both agree on what a bad review is.
    """
    from retain.retention.campaign import recent_complaints

    day = dt.date(2025, 6, 30)
    with Store.open(tmp_path / "retain.duckdb") as store:
        ingest_arrow(
            store,
            "orders",
            pa.table({"order_id": ["o1", "o2", "o3", "o4", "o5"],
                      "user_id": ["u1", "u2", "u3", "u4", "u5"],
                      "ts": [dt.datetime(2025, 1, 1)] * 5, "amount": [10.0] * 5}),
            source="t", now=dt.datetime(2030, 1, 1),
        )  # fmt: skip
        ingest_arrow(
            store,
            "reviews",
            pa.table(
                {
                    "review_id": ["r1", "r2", "r3", "r4", "r5"],
                    "user_id": ["u1", "u2", "u3", "u4", "u5"],
                    "ts": [
                        dt.datetime(2025, 6, 20),
                        dt.datetime(2025, 6, 21),
                        dt.datetime(2025, 1, 1),
                        dt.datetime(2025, 6, 22),
                        dt.datetime(2025, 6, 23),
                    ],
                    "text": [
                        "the box came crushed",
                        "lovely",
                        "broke at once",
                        "fine I guess",
                        "never again",
                    ],
                    "rating": [None, None, None, 3.0, None],
                    "label": [None, None, None, None, 0],
                }
            ),
            source="t",
            now=dt.datetime(2030, 1, 1),
        )
        tables = FeatureTables.from_store(store)
        assert tables.review_scores is None
        assert recent_complaints(tables, day) == {"u5"}  # only the person's label so far
        store.write_table(
            "review_scores",
            pa.table(
                {
                    "review_id": ["r1", "r2", "r3", "r4", "r5"],
                    "user_id": ["u1", "u2", "u3", "u4", "u5"],
                    "label": [0, 1, 0, 0, 1],
                }
            ),
        )
        tables = FeatureTables.from_store(store)
        # r3 is too old; r4 has three stars but reads negative; a person labelled r5 negative.
        assert recent_complaints(tables, day, days=30) == {"u1", "u4", "u5"}
        features = tables.fetch(customer_features(tables, day)).set_index("user_id")
        assert features.negative_reviews.to_dict() == {
            "u1": 1.0, "u2": 0.0, "u3": 1.0, "u4": 1.0, "u5": 1.0
        }  # fmt: skip


def _shop_with_a_past_experiment(store: Store, rng: np.random.Generator) -> pd.DataFrame:
    """1,200 customers, a coupon test on 2025-04-01 that only big spenders respond to.

    Every customer bought twice before the test, half of them for 100 an
    order, half for 20. Treated big spenders buy again within 90 days 60% of
    the time; everyone else 20%. A message test on 60 customers is too small
    to learn from.
    """
    n = 1200
    users = [f"u{i:04d}" for i in range(n)]
    big = np.arange(n) % 2 == 0
    treated = rng.random(n) < 0.5
    orders: list[tuple[str, dt.datetime, float]] = []
    for i, user in enumerate(users):
        amount = 100.0 if big[i] else 20.0
        orders += [(user, dt.datetime(2025, 1, 10, 12), amount)]
        orders += [(user, dt.datetime(2025, 3, 10, 12), amount)]
        if rng.random() < (0.6 if big[i] and treated[i] else 0.2):
            later = dt.datetime(2025, 4, 1, 12) + dt.timedelta(days=int(rng.integers(1, 80)))
            orders.append((user, later, amount))
    ingest_arrow(
        store,
        "orders",
        pa.table(
            {
                "order_id": [f"o{k}" for k in range(len(orders))],
                "user_id": [u for u, _, _ in orders],
                "ts": [t for _, t, _ in orders],
                "amount": [a for _, _, a in orders],
            }
        ),
        source="test",
    )
    past = pd.DataFrame(
        {
            "user_id": users + users[:60],
            "action": ["coupon_15"] * n + ["recommendation_message"] * 60,
            "expected_cost": 1.0,
            "uplift": 0.05,
            "expected_net_value": 1.0,
            "reason": "past campaign",
            "campaign_id": ["C1"] * n + ["C2"] * 60,
            "created_at": dt.datetime(2025, 4, 1, 9),
            "budget": 1000.0,
            "model_version": "v0",
            "variant": [("treatment" if t else "control") for t in treated]
            + ["treatment"] * 30
            + ["control"] * 30,
        }
    )
    store.write_table(INTERVENTIONS_TABLE, past)
    return pd.DataFrame({"user_id": users, "big": big})


def test_the_next_campaign_learns_uplift_from_past_campaign_experiments(tmp_path: Path) -> None:
    """A holdout campaign measured what a coupon does: the next one targets who responded."""
    with Store.open(tmp_path / "retain.duckdb") as store:
        customers = _shop_with_a_past_experiment(store, np.random.default_rng(0))
        # The outcome window (90 days from 2025-04-01) is still open: nothing is read from it.
        assert learned_uplift(store, horizon_days=90, as_of=dt.date(2025, 6, 1)).learned == {}
        model = learned_uplift(store, horizon_days=90, as_of=dt.date(2025, 7, 31))
        assert model.learned == {"coupon_15": 1200}  # the 60-customer message test is too small
        coupon = next(a for a in DEFAULT_ACTIONS if a.name == "coupon_15")
        tables = FeatureTables.from_store(store)
        now = tables.fetch(customer_features(tables, dt.date(2025, 7, 31)))
        now = now.merge(customers, on="user_id")
        uplift = model.uplift(coupon, now)
        assert uplift[now.big].mean() > 0.25 > 0.1 > abs(uplift[~now.big].mean())
        store.write_table(
            "user_scores",
            pd.DataFrame(
                {
                    "user_id": customers.user_id,
                    "repurchase_probability": 0.3,
                    "expected_lifetime_value": 15.0,
                    "p_alive": 0.8,
                    "cutoff": dt.date(2025, 7, 31),
                    "horizon_days": 90,
                    "model_version": "v1",
                }
            ),
        )
        result = build_campaign(store, 300.0)
        assert result.uplift_learned == {"coupon_15": 1200}
        coupons = result.plan[result.plan.action == "coupon_15"]
        assert len(coupons) and coupons.reason.str.contains("measured on 1,200 customers").all()
        assert coupons.user_id.isin(customers.user_id[customers.big]).mean() > 0.9
        others = result.plan[result.plan.action != "coupon_15"]
        assert others.reason.str.contains("(assumed)", regex=False).all()
        assumed = build_campaign(store, 300.0, learn_uplift=False)
        assert assumed.uplift_learned == {}
        assert not assumed.plan.reason.str.contains("measured").any()


def _alike_scores(store: Store, ids: list[str], cutoff: dt.date) -> None:
    """``user_scores`` where every customer looks the same, so only the rule tested decides."""
    n = len(ids)
    store.write_table(
        "user_scores",
        pa.table(
            {
                "user_id": ids,
                "repurchase_probability": [0.3] * n,
                "expected_lifetime_value": [80.0] * n,
                "p_alive": [0.6] * n,
                "cutoff": [cutoff] * n,
                "horizon_days": [90] * n,
                "model_version": ["v1"] * n,
            }
        ),
    )


def test_customers_who_declined_marketing_get_no_coupon_or_message(tmp_path: Path) -> None:
    """A coupon sent to a customer who said no to marketing breaks the law in most
    markets; a follow-up on their own complaint is service and may still go."""
    n = 40
    ids = [f"u{i:02d}" for i in range(n)]
    with Store.open(tmp_path / "retain.duckdb") as store:
        _alike_scores(store, ids, dt.date(2026, 6, 1))
        consent = ["no" if i % 4 == 0 else "yes" if i % 4 == 1 else "" for i in range(n)]
        users = pa.table({"user_id": ids, "Accepts Email Marketing": consent})
        mapping = {"Accepts Email Marketing": "marketing_consent"}
        ingest_arrow(store, "users", users, source="customers_export", mapping=mapping)
        declined = {u for u, c in zip(ids, consent, strict=True) if c == "no"}
        accepted = {u for u, c in zip(ids, consent, strict=True) if c == "yes"}
        coupons = DEFAULT_ACTIONS[:2]
        plan = build_campaign(store, 1e6, actions=coupons, learn_uplift=False)
        assert plan.without_consent == len(declined) == 10
        assert set(plan.plan.user_id) == set(ids) - declined  # unknown consent: not declined
        store.execute(f"DROP TABLE {INTERVENTIONS_TABLE}")  # no cooldown from that plan
        strict = build_campaign(
            store, 1e6, actions=coupons, learn_uplift=False, require_consent=True
        )
        assert set(strict.plan.user_id) == accepted and strict.without_consent == n - len(accepted)
        # A care contact is no marketing: a declined customer with a complaint may get one.
        care = Action("care_contact", 3.0, 0.0, 0.2, needs_complaint=True, marketing=False)
        served = build_campaign(store, 1e6, actions=(care,), learn_uplift=False)
        assert served.without_consent == 0


def test_a_customer_who_bought_after_being_scored_gets_no_win_back_offer(tmp_path: Path) -> None:
    """Scores are as of their cutoff; a customer who ordered since is no longer at risk
    as scored, and a "we miss you" coupon the day after an order wastes the budget."""
    ids = [f"u{i:02d}" for i in range(30)]
    cutoff = dt.date(2026, 6, 1)
    with Store.open(tmp_path / "retain.duckdb") as store:
        _alike_scores(store, ids, cutoff)
        orders = pa.table(
            {
                "order_id": ["o1", "o2", "o3", "o4"],
                "user_id": ["u01", "u02", "u03", "u04"],
                "ts": ["2026-06-01 23:00", "2026-06-02 08:00", "2026-06-03", "2026-06-04"],
                "amount": [10.0, 12.0, 9.0, 5.0],
                "status": ["completed", "completed", "cancelled", "pending"],
            }
        )
        now = dt.datetime(2026, 6, 10)
        ingest_arrow(store, "orders", orders, source="orders", now=now)
        event = pa.table({"event_id": ["e1"], "user_id": ["u05"], "item_id": ["i1"],
                          "event_type": ["purchase"], "ts": ["2026-06-05 10:00"]})  # fmt: skip
        ingest_arrow(store, "events", event, source="api", now=now)
        plan = build_campaign(store, 1e6, actions=DEFAULT_ACTIONS[:2], learn_uplift=False)
        summary = scores_summary(store)
    assert summary is not None and (summary["bought_since"], summary["cutoff"]) == (3, cutoff)
    # u01 bought on the cutoff day (scored with it), u03's order was cancelled.
    assert (plan.bought_since_scored, plan.scored_as_of) == (3, cutoff)
    assert set(plan.plan.user_id) == set(ids) - {"u02", "u04", "u05"}
