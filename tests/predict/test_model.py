"""The behaviour model on the demo shop: scores a shop can act on, saved and loaded exactly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pytest

from retain.artifacts import current_version
from retain.data import Store
from retain.data.ingest import ingest_arrow, ingest_file
from retain.demo import DEMO_FILES, generate_demo_shop
from retain.errors import ConvergenceError, InvalidInputError, NotFittedError, NotFoundError
from retain.features.customer import FeatureTables, customer_features, purchase_outcomes
from retain.predict.btyd import BetaGeo
from retain.predict.model import SCORE_COLUMNS, BehaviourModel
from retain.predict.scoring import (
    SCORES_TABLE,
    last_order_day,
    latest_check,
    load_current,
    train_and_score,
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("shop")
    generate_demo_shop(folder / "demo", seed=11)
    with Store.open(folder / "retain.duckdb") as store:
        for name, table in DEMO_FILES.items():
            ingest_file(store, table, folder / "demo" / name)
        yield store


@pytest.fixture(scope="module")
def fitted(shop: Store) -> tuple[BehaviourModel, dt.date]:
    cutoff = last_order_day(shop) - dt.timedelta(days=60)
    model = BehaviourModel(horizon_days=60, seed=1).fit(FeatureTables.from_store(shop), cutoff)
    return model, cutoff


def test_scores_are_consistent_probabilities_with_reasons(
    shop: Store, fitted: tuple[BehaviourModel, dt.date]
) -> None:
    model, _ = fitted
    scores = model.predict(FeatureTables.from_store(shop))
    assert tuple(scores.columns) == SCORE_COLUMNS
    assert scores.user_id.is_unique and len(scores) > 100
    for column in ("p_alive", "repurchase_probability", "churn_risk"):
        assert scores[column].between(0, 1).all(), column
    np.testing.assert_allclose(scores.churn_risk, 1 - scores.repurchase_probability)
    assert (scores.expected_purchases >= scores.repurchase_probability - 1e-12).all()
    assert (scores.expected_lifetime_value >= 0).all()
    assert all(
        isinstance(r, list) and r and all(isinstance(s, str) for s in r) for r in scores.reasons
    )
    # In the demo shop churned customers stop visiting; the riskiest are told so.
    riskiest = scores.nlargest(20, "churn_risk").reasons
    assert sum(any("visit" in s or "no purchase for" in s for s in r) for r in riskiest) >= 15


def test_probabilities_are_calibrated_on_the_following_weeks(
    shop: Store, fitted: tuple[BehaviourModel, dt.date]
) -> None:
    """Mean predicted repurchase probability is close to the share who really bought."""
    model, cutoff = fitted
    tables = FeatureTables.from_store(shop)
    scores = model.predict(tables, explain=False)
    outcome = tables.fetch(purchase_outcomes(tables, cutoff, cutoff + dt.timedelta(days=60)))
    bought = scores[["user_id"]].merge(outcome, on="user_id", how="left").purchases.fillna(0) > 0
    assert scores.repurchase_probability.mean() == pytest.approx(bought.mean(), abs=0.06)
    # Customers ranked riskiest buy less often than the safest.
    ranked = scores.assign(bought=bought.to_numpy()).sort_values("churn_risk")
    half = len(ranked) // 2
    assert ranked.bought.iloc[:half].mean() > ranked.bought.iloc[half:].mean()


def test_save_and_load_give_identical_scores(
    shop: Store, fitted: tuple[BehaviourModel, dt.date], tmp_path: Path
) -> None:
    model, _ = fitted
    model.save(tmp_path / "m")
    loaded = BehaviourModel.load(tmp_path / "m")
    tables = FeatureTables.from_store(shop)
    pd.testing.assert_frame_equal(model.predict(tables), loaded.predict(tables))


def test_a_cutoff_outside_the_data_is_refused(shop: Store) -> None:
    tables = FeatureTables.from_store(shop)
    last = last_order_day(shop)
    with pytest.raises(InvalidInputError, match="after the last order"):
        BehaviourModel().fit(tables, last + dt.timedelta(days=3))
    with pytest.raises(InvalidInputError, match="before the first order"):
        BehaviourModel().fit(tables, dt.date(2000, 1, 1))
    with pytest.raises(NotFittedError, match="call fit"):
        BehaviourModel().predict(tables)
    with pytest.raises(InvalidInputError, match="'horizon_days' parameter"):
        BehaviourModel(horizon_days=0)


def test_train_and_score_publishes_a_version_and_fills_user_scores(
    shop: Store, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="retain train predict"):
        load_current(tmp_path / "models")
    result = train_and_score(shop, tmp_path / "models", horizon_days=30)
    assert current_version(tmp_path / "models", "predict") == result.version
    table = shop.query_df(f"SELECT * FROM {SCORES_TABLE}")
    assert len(table) == result.customers_scored
    assert set(table.model_version) == {result.version}
    assert set(table.horizon_days) == {30}
    assert (table.cutoff == pd.Timestamp(last_order_day(shop))).all()
    again = train_and_score(shop, tmp_path / "models", horizon_days=30, check=False)
    assert again.version == result.version  # same data, same seed: same model
    assert again.check is None and again.check_note == "no check: not asked for"


def test_training_checks_the_model_on_the_shops_own_recent_past(
    shop: Store, tmp_path: Path
) -> None:
    """The check is an honest replay: refit 30 days back, score what customers did since."""
    result = train_and_score(shop, tmp_path / "models", horizon_days=30)
    check = result.check
    assert check is not None, result.check_note
    last = last_order_day(shop)
    assert (check.calibration_end, check.holdout_end) == (last - dt.timedelta(days=30), last)
    tables = FeatureTables.from_store(shop)
    outcome = tables.fetch(purchase_outcomes(tables, check.calibration_end, last))
    buyers = tables.fetch(customer_features(tables, check.calibration_end))
    bought = buyers.user_id.isin(outcome[outcome.purchases > 0].user_id)
    assert check.customers == len(buyers)
    assert check.observed_rate == pytest.approx(bought.mean())
    assert 0.6 < check.auc <= 1 and abs(check.predicted_rate - check.observed_rate) < 0.06
    assert sum(n for _, _, n in check.reliability) == check.customers
    assert [p for p, _, _ in check.reliability] == sorted(p for p, _, _ in check.reliability)
    stored = latest_check(shop)
    assert stored is not None and stored == (check, result.version)


def test_a_history_too_short_to_replay_is_trained_but_not_checked(
    store: Store, tmp_path: Path
) -> None:
    """100 days of orders: enough to learn a 90-day model, not to replay one 90 days back."""
    rng = np.random.default_rng(0)
    start = dt.datetime(2025, 3, 1, 12)
    rows = [(f"u{c}", start + dt.timedelta(days=int(rng.integers(0, 20)))) for c in range(300)]
    rows += [(f"u{rng.integers(300)}", start + dt.timedelta(days=int(d)))
             for d in rng.integers(21, 101, 600)]  # fmt: skip
    ingest_arrow(
        store,
        "orders",
        pa.table({"order_id": [f"o{i}" for i in range(len(rows))],
                  "user_id": [u for u, _ in rows], "ts": [t for _, t in rows],
                  "amount": [10.0] * len(rows)}),
        source="t", now=dt.datetime(2030, 1, 1),
    )  # fmt: skip
    result = train_and_score(store, tmp_path / "models", horizon_days=90)
    assert result.customers_scored == 300
    assert result.check is None and result.check_note.startswith("no check:")
    assert latest_check(store) is None


def test_training_without_orders_says_what_is_missing(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="no orders"):
        BehaviourModel().fit(FeatureTables.from_store(store), dt.date(2025, 1, 1))


def test_a_backtest_whose_btyd_fit_fails_is_skipped_not_the_end_of_training(
    shop: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One month whose BG/NBD is not identified must not stop the earlier months being used."""
    import retain.predict.model as module

    calls: list[int] = []
    fail_on: set[int] = set()

    class FailingSome(BetaGeo):
        def fit(self, x: npt.ArrayLike, t_x: npt.ArrayLike, big_t: npt.ArrayLike) -> BetaGeo:
            calls.append(1)
            if len(calls) in fail_on:
                raise ConvergenceError("BG/NBD: made up for this test")
            return super().fit(x, t_x, big_t)

    monkeypatch.setattr(module, "BetaGeo", FailingSome)
    tables = FeatureTables.from_store(shop)
    cutoff = last_order_day(shop) - dt.timedelta(days=60)
    fail_on.update({2})  # the first call fits the cutoff itself, the second the first backtest
    model = BehaviourModel(horizon_days=60, backtests=3).fit(tables, cutoff)
    assert [b.cutoff for b in model.backtests_] == [
        cutoff - dt.timedelta(days=56),
        cutoff - dt.timedelta(days=84),
    ]
    calls.clear()
    fail_on.update({3, 4})
    with pytest.raises(InvalidInputError, match=r"at \d{4}-\d\d-\d\d: BG/NBD: made up"):
        BehaviourModel(horizon_days=60, backtests=3).fit(tables, cutoff)


def test_reasons_credit_the_btyd_part_of_the_risk(
    shop: Store, fitted: tuple[BehaviourModel, dt.date]
) -> None:
    """BG/NBD's probability is the boosting offset, outside TreeSHAP: it must still be a reason.

    Without it, a one-time buyer silent for months was told "spends 56.40
    per purchase" (the booster's small correction) and not that they have
    not bought for 36 weeks, which is most of their risk.
    """
    model, cutoff = fitted
    tables = FeatureTables.from_store(shop)
    features = tables.fetch(customer_features(tables, cutoff))
    scores = features[["user_id"]].merge(model.predict_features(features), on="user_id")
    btyd = BetaGeo.from_params(model.btyd_params_)
    alone = btyd.probability_of_purchase(
        model.horizon_days / 7, features.x, features.t_x, features["T"]
    )
    # Customers whom BG/NBD alone gives a third of the typical chance to buy, and who stay at risk.
    gone = scores[(alone < model.typical_["bg_probability"] / 3) & (scores.churn_risk > 0.8)]
    assert len(gone) >= 20
    rhythm = ("no purchase for", "has bought only", "only ")
    # It is the largest part of their risk, so it comes first.
    told = gone.reasons.map(lambda reasons: reasons[0].startswith(rhythm))
    assert told.mean() >= 0.9, gone.reasons[~told].head().tolist()
