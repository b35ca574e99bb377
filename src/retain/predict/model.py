"""Churn risk, repurchase propensity and lifetime value per customer.

How the pieces fit:

1. **BG/NBD + Gamma-Gamma** (:mod:`retain.predict.btyd`) are fitted on the
   purchase history up to the cutoff. They extrapolate to any horizon and give
   ``p_alive``; on their own they are the classic baseline.
2. **LightGBM corrects them.** The shop's own history is replayed: at several
   earlier *backtest* cutoffs the features and a BG/NBD fitted on data up to
   that point are computed, and what each customer really did afterwards (up
   to the real cutoff) is the label. A Poisson model of purchase counts and a
   binary model of "any purchase" learn a correction on top of the BG/NBD
   prediction, which enters as the boosting offset (``init_score``). The
   offset carries the horizon, so windows of different lengths train one
   model and the correction transfers to the horizon asked for.
3. **Calibration**: the repurchase probability's log-odds are rescaled
   (Platt) on out-of-fold predictions (folds by customer), so "30%" means
   about 30 of 100 such customers buy. The number of boosting rounds is chosen
   on the same folds, so a small shop stays close to BG/NBD.
4. **Level**: expected purchases are rescaled so that, over all customers at
   the cutoff, they add up to what BG/NBD expects. The backtest windows are
   shorter than the horizon and the correction learned on them shifts the
   total unreliably (it moved the CDNOW and demo totals away from the truth),
   while BG/NBD's population dynamics extrapolate the total better; the
   boosted model decides how it is shared among customers.
5. **Reasons**: TreeSHAP contributions of the binary model, turned into
   sentences by :mod:`retain.predict.explain`.

Only data on or before the cutoff is read (the features guarantee it), and a
backtest's label window never passes the cutoff, so nothing the model learns
comes from the period it predicts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self, cast

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from retain.errors import ConvergenceError, InvalidInputError, NotFittedError, NotFoundError
from retain.features.customer import (
    FEATURE_DESCRIPTIONS,
    FeatureTables,
    customer_features,
    purchase_outcomes,
)
from retain.predict.btyd import BetaGeo, BetaGeoParams, GammaGamma, GammaGammaParams
from retain.predict.explain import top_reasons

__all__ = ["SCORE_COLUMNS", "Backtest", "BehaviourModel"]

FORMAT_VERSION = 1
WEEK_DAYS = 7.0
_EPS = 1e-6
_BTYD_FEATURES = ("bg_expected", "bg_probability", "bg_p_alive")

#: Columns of :meth:`BehaviourModel.predict`, in order.
SCORE_COLUMNS = (
    "user_id",
    "p_alive",
    "repurchase_probability",
    "churn_risk",
    "expected_purchases",
    "expected_lifetime_value",
    "reasons",
)


@dataclass(frozen=True)
class Backtest:
    """One replayed cutoff: features as of ``cutoff``, labels up to ``label_end``."""

    cutoff: dt.date
    label_end: dt.date
    customers: int
    purchases: float
    bgnbd_expected: float


class BehaviourModel:
    """Estimator for per-customer behaviour over the next ``horizon_days``.

    Args:
        horizon_days: The window the predictions are about.
        backtests: Earlier cutoffs replayed to learn from (at most).
        backtest_step_days: Days between replayed cutoffs.
        n_estimators: Boosting rounds per LightGBM model.
        learning_rate: LightGBM shrinkage.
        num_leaves: LightGBM tree size.
        min_child_samples: Customers per leaf at least; guards small shops.
        max_training_rows: Backtest rows kept at most (a random subset of
            customers beyond it), which bounds training time on big shops.
        seed: Seed for everything random.
    """

    def __init__(
        self,
        horizon_days: int = 90,
        *,
        backtests: int = 5,
        backtest_step_days: int = 28,
        n_estimators: int = 300,
        learning_rate: float = 0.03,
        num_leaves: int = 7,
        min_child_samples: int = 100,
        max_training_rows: int = 400_000,
        seed: int = 0,
    ) -> None:
        self.horizon_days = horizon_days
        self.backtests = backtests
        self.backtest_step_days = backtest_step_days
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_training_rows = max_training_rows
        self.seed = seed
        self._validate_params()

    def _validate_params(self) -> None:
        checks = {
            "horizon_days": self.horizon_days >= 1,
            "backtests": self.backtests >= 1,
            "backtest_step_days": self.backtest_step_days >= 1,
            "n_estimators": self.n_estimators >= 1,
            "learning_rate": 0 < self.learning_rate <= 1,
            "num_leaves": self.num_leaves >= 2,
            "min_child_samples": self.min_child_samples >= 1,
            "max_training_rows": self.max_training_rows >= 100,
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidInputError(
                    f"The '{name}' parameter of BehaviourModel is out of range; "
                    f"got {getattr(self, name)!r}."
                )

    # -- fitting -----------------------------------------------------------

    def fit(self, tables: FeatureTables, cutoff: dt.date) -> Self:
        """Learn from everything dated on or before ``cutoff``.

        Raises:
            InvalidInputError: ``cutoff`` lies outside the orders' dates, or
                the history is too short to replay any backtest.
            ConvergenceError: BG/NBD cannot be fitted (no repeat buyers).
        """
        first_order, last_order = _order_span(tables)
        if cutoff < first_order:
            raise InvalidInputError(
                f"cutoff {cutoff} is before the first order ({first_order}); nothing to learn from"
            )
        if cutoff > last_order:
            raise InvalidInputError(
                f"cutoff {cutoff} is after the last order ({last_order}); customers would look "
                "inactive for days that are only missing from the data. Use a cutoff on or "
                f"before {last_order}."
            )
        horizon_weeks = self.horizon_days / WEEK_DAYS
        current = tables.fetch(customer_features(tables, cutoff))
        self.btyd_params_ = BetaGeo().fit(current.x, current.t_x, current["T"]).params_
        self.spend_params_ = _fit_spend(current)
        frames, labels, backtests, unfitted = self._replay(tables, cutoff, horizon_weeks)
        if not frames:
            why = "".join(f"; at {day}: {reason}" for day, reason in unfitted)
            raise InvalidInputError(
                f"not enough history before {cutoff} to learn from: each backtest needs "
                f"repeat buyers before a cutoff {self.backtest_step_days} days or more earlier; "
                f"use a later cutoff, a smaller backtest_step_days, or more data{why}"
            )
        train = pd.concat(frames, ignore_index=True)
        target = np.concatenate(labels)
        train, target = self._subsample(train, target)
        self.features_ = [*FEATURE_DESCRIPTIONS, *_BTYD_FEATURES]
        matrix = train[self.features_].to_numpy(np.float64)
        count_offset = np.log(train.bg_expected.to_numpy() + _EPS)
        prob_offset = special.logit(np.clip(train.bg_probability.to_numpy(), _EPS, 1 - _EPS))
        groups = train.user_id.to_numpy()
        bought = (target > 0).astype(np.float64)
        self.count_model_, _ = self._fit_booster("poisson", matrix, target, count_offset, groups)
        self.repurchase_model_, raw = self._fit_booster(
            "binary", matrix, bought, prob_offset, groups
        )
        self.calibration_ = _fit_platt(raw, bought)
        self.typical_ = {
            str(name): float(value) for name, value in train[self.features_].median().items()
        }
        self.level_ = 1.0
        level = self.predict_features(current, explain=False).expected_purchases.sum()
        btyd_level = _with_btyd(current, BetaGeo.from_params(self.btyd_params_), horizon_weeks)
        self.level_ = float(btyd_level.bg_expected.sum() / max(level, _EPS))
        self.cutoff_ = cutoff
        self.backtests_ = backtests
        self.training_rows_ = len(train)
        return self

    def _replay(
        self, tables: FeatureTables, cutoff: dt.date, horizon_weeks: float
    ) -> tuple[
        list[pd.DataFrame], list[npt.NDArray[np.float64]], list[Backtest], list[tuple[dt.date, str]]
    ]:
        """Replay the history at earlier cutoffs: features, outcomes, and what each showed.

        A cutoff whose BG/NBD cannot be fitted is skipped, not the end of the
        replay: an earlier, smaller history can still identify the model
        (one month of a wholesaler's orders did not where the months around
        it did). The skipped cutoffs come back with the reason.
        """
        frames: list[pd.DataFrame] = []
        labels: list[npt.NDArray[np.float64]] = []
        backtests: list[Backtest] = []
        unfitted: list[tuple[dt.date, str]] = []
        for k in range(1, self.backtests + 1):
            start = cutoff - dt.timedelta(days=self.backtest_step_days * k)
            end = min(start + dt.timedelta(days=self.horizon_days), cutoff)
            frame = tables.fetch(customer_features(tables, start))
            if len(frame) < self.min_child_samples or not (frame.x > 0).any():
                break
            try:
                model = BetaGeo().fit(frame.x, frame.t_x, frame["T"])
            except ConvergenceError as error:
                unfitted.append((start, str(error)))
                continue
            window = (end - start).days / WEEK_DAYS
            frame = _with_btyd(frame, model, min(window, horizon_weeks))
            outcome = tables.fetch(purchase_outcomes(tables, start, end))
            bought = (
                frame[["user_id"]]
                .merge(outcome, on="user_id", how="left")
                .purchases.fillna(0.0)
                .to_numpy(np.float64)
            )
            frames.append(frame)
            labels.append(bought)
            backtests.append(
                Backtest(
                    cutoff=start,
                    label_end=end,
                    customers=len(frame),
                    purchases=float(bought.sum()),
                    bgnbd_expected=float(frame.bg_expected.sum()),
                )
            )
        return frames, labels, backtests, unfitted

    def _subsample(
        self, train: pd.DataFrame, target: npt.NDArray[np.float64]
    ) -> tuple[pd.DataFrame, npt.NDArray[np.float64]]:
        if len(train) <= self.max_training_rows:
            return train, target
        rng = np.random.default_rng(self.seed)
        keep = np.sort(rng.choice(len(train), self.max_training_rows, replace=False))
        return train.iloc[keep].reset_index(drop=True), target[keep]

    def _params_for(self, objective: str) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "deterministic": True,
            "verbose": -1,
        }

    def _fit_booster(
        self,
        objective: str,
        matrix: npt.NDArray[np.float64],
        target: npt.NDArray[np.float64],
        offset: npt.NDArray[np.float64],
        groups: npt.NDArray[Any],
    ) -> tuple[lgb.Booster, npt.NDArray[np.float64]]:
        """Boost on top of the BTYD offset; rounds chosen by cross-validation by customer.

        Returns the final booster and every row's out-of-fold raw score
        (offset included), which calibration needs. A small shop gets few
        rounds and stays close to BG/NBD; a large one gets the full correction.
        """
        params = self._params_for(objective)
        data = lgb.Dataset(
            matrix,
            target,
            init_score=offset,
            feature_name=list(self.features_),
            free_raw_data=False,
        )
        folds = list(GroupKFold(n_splits=3).split(matrix, target, groups))
        result = lgb.cv(
            params,
            data,
            num_boost_round=self.n_estimators,
            folds=folds,
            callbacks=[lgb.early_stopping(30, verbose=False)],
            return_cvbooster=True,
        )
        metric = next(k for k in result if k.endswith("-mean"))
        rounds = max(1, len(cast(list[float], result[metric])))
        cv_booster = cast(lgb.CVBooster, result["cvbooster"])
        out_of_fold = np.empty_like(target)
        for booster, (_, held) in zip(cv_booster.boosters, folds, strict=True):
            score = booster.predict(matrix[held], raw_score=True, num_iteration=rounds)
            out_of_fold[held] = np.asarray(score) + offset[held]
        final = lgb.train(params, data, num_boost_round=rounds)
        return final, out_of_fold

    # -- prediction --------------------------------------------------------

    def predict(
        self,
        tables: FeatureTables,
        cutoff: dt.date | None = None,
        *,
        explain: bool = True,
        currency: str | None = None,
    ) -> pd.DataFrame:
        """Scores for every customer with a purchase on or before ``cutoff``.

        ``cutoff`` defaults to the one the model was fitted at. Columns are
        :data:`SCORE_COLUMNS`; ``reasons`` is a list of sentences per customer,
        amounts in ``currency`` (the shop's) where it names one.
        """
        self._check_fitted()
        features = tables.fetch(customer_features(tables, cutoff or self.cutoff_))
        return self.predict_features(features, explain=explain, currency=currency)

    def predict_features(
        self, features: pd.DataFrame, *, explain: bool = True, currency: str | None = None
    ) -> pd.DataFrame:
        """:meth:`predict` for a frame from :func:`customer_features`."""
        self._check_fitted()
        horizon_weeks = self.horizon_days / WEEK_DAYS
        btyd = BetaGeo.from_params(self.btyd_params_)
        frame = _with_btyd(features, btyd, horizon_weeks)
        matrix = frame[self.features_].to_numpy(np.float64)
        count_raw = np.asarray(self.count_model_.predict(matrix, raw_score=True))
        expected = self.level_ * np.exp(count_raw + np.log(frame.bg_expected.to_numpy() + _EPS))
        prob_offset = special.logit(np.clip(frame.bg_probability.to_numpy(), _EPS, 1 - _EPS))
        prob_raw = np.asarray(self.repurchase_model_.predict(matrix, raw_score=True))
        probability = _apply_platt(self.calibration_, prob_raw + prob_offset)
        expected = np.maximum(expected, probability)
        spend = _spend_per_purchase(frame, self.spend_params_)
        out = pd.DataFrame(
            {
                "user_id": frame.user_id.to_numpy(),
                "p_alive": frame.bg_p_alive.to_numpy(),
                "repurchase_probability": probability,
                "churn_risk": 1.0 - probability,
                "expected_purchases": expected,
                "expected_lifetime_value": expected * spend,
            }
        )
        if explain:
            contributions = self._contributions(matrix, prob_offset)
            out["reasons"] = top_reasons(
                contributions, matrix, list(self.features_), self.typical_, currency=currency
            )
        else:
            out["reasons"] = [[] for _ in range(len(out))]
        return out

    def _contributions(
        self, matrix: npt.NDArray[np.float64], prob_offset: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Per customer and feature, how much it moved the repurchase log-odds.

        TreeSHAP splits only the booster's correction; BG/NBD's own
        probability enters as the boosting offset and is in none of its
        contributions. Yet for most customers it is the larger part: a
        customer who bought once, long ago, is at risk because BG/NBD says
        so, and the booster then had only the spend left to explain. So the
        offset's distance from the typical customer's is credited to the
        ``bg_probability`` feature, whose sentence is the buying rhythm ("has
        bought only once", "no purchase for 27 weeks"). The two parts add up
        to the whole log-odds, relative to the typical customer.
        """
        contributions = np.asarray(
            self.repurchase_model_.predict(matrix, pred_contrib=True), dtype=np.float64
        )
        usual = self.typical_.get("bg_probability")
        if usual is not None and "bg_probability" in self.features_:
            column = self.features_.index("bg_probability")
            typical_offset = special.logit(np.clip(usual, _EPS, 1 - _EPS))
            contributions[:, column] += prob_offset - typical_offset
        return contributions

    def _check_fitted(self) -> None:
        if not hasattr(self, "count_model_"):
            raise NotFittedError(
                "This BehaviourModel is not fitted yet; call fit(tables, cutoff) or load(path)."
            )

    # -- persistence ----------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the model as JSON and LightGBM text files (no pickle)."""
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        self.count_model_.save_model(str(folder / "counts.lgb"))
        self.repurchase_model_.save_model(str(folder / "repurchase.lgb"))
        meta = {
            "format": FORMAT_VERSION,
            "kind": "predict",
            "params": self._params(),
            "cutoff": self.cutoff_.isoformat(),
            "features": self.features_,
            "btyd": asdict(self.btyd_params_),
            "spend": None if self.spend_params_ is None else asdict(self.spend_params_),
            "calibration": list(self.calibration_),
            "level": self.level_,
            "typical": self.typical_,
            "backtests": [
                {**asdict(b), "cutoff": b.cutoff.isoformat(), "label_end": b.label_end.isoformat()}
                for b in self.backtests_
            ],
            "training_rows": self.training_rows_,
        }
        (folder / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> BehaviourModel:
        """Read a model written by :meth:`save`; refuses another format version."""
        meta_path = folder / "model.json"
        if not meta_path.is_file():
            raise NotFoundError(f"no behaviour model in {folder} (model.json is missing)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION or meta.get("kind") != "predict":
            raise InvalidInputError(
                f"{folder} holds a model of format {meta.get('format')!r} "
                f"(kind {meta.get('kind')!r}); this Retain reads predict format {FORMAT_VERSION}"
            )
        model = cls(**meta["params"])
        model.count_model_ = lgb.Booster(model_file=str(folder / "counts.lgb"))
        model.repurchase_model_ = lgb.Booster(model_file=str(folder / "repurchase.lgb"))
        model.features_ = list(meta["features"])
        model.cutoff_ = dt.date.fromisoformat(meta["cutoff"])
        model.btyd_params_ = BetaGeoParams(**meta["btyd"])
        model.spend_params_ = None if meta["spend"] is None else GammaGammaParams(**meta["spend"])
        slope, intercept = meta["calibration"]
        model.calibration_ = (float(slope), float(intercept))
        model.level_ = float(meta["level"])
        model.typical_ = {name: float(v) for name, v in meta["typical"].items()}
        model.backtests_ = [
            Backtest(
                **{
                    **b,
                    "cutoff": dt.date.fromisoformat(b["cutoff"]),
                    "label_end": dt.date.fromisoformat(b["label_end"]),
                }
            )
            for b in meta["backtests"]
        ]
        model.training_rows_ = int(meta["training_rows"])
        return model

    def _params(self) -> dict[str, Any]:
        return {
            "horizon_days": self.horizon_days,
            "backtests": self.backtests,
            "backtest_step_days": self.backtest_step_days,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "max_training_rows": self.max_training_rows,
            "seed": self.seed,
        }


def _fit_platt(
    raw: npt.NDArray[np.float64], bought: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """Slope and intercept on the log-odds, fitted on out-of-fold scores.

    An affine map of the log-odds rather than isotonic steps: the backtest
    windows are shorter than the horizon predicted, so scores at prediction
    time reach beyond the training range, where steps would flatten them.
    """
    fit = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), bought.astype(int))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def _apply_platt(
    calibration: tuple[float, float], raw: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    slope, intercept = calibration
    return np.asarray(special.expit(slope * raw + intercept), dtype=np.float64)


def _order_span(tables: FeatureTables) -> tuple[dt.date, dt.date]:
    orders = tables.orders
    span = tables.fetch(orders.aggregate(first=orders.ts.min(), last=orders.ts.max()))
    if span.empty or pd.isna(span["first"].iloc[0]):
        raise InvalidInputError("there are no orders to learn from; ingest orders first")
    return span["first"].iloc[0].date(), span["last"].iloc[0].date()


def _with_btyd(frame: pd.DataFrame, model: BetaGeo, horizon_weeks: float) -> pd.DataFrame:
    x, t_x, big_t = frame.x.to_numpy(), frame.t_x.to_numpy(), frame["T"].to_numpy()
    return frame.assign(
        bg_expected=model.expected_purchases(horizon_weeks, x, t_x, big_t),
        bg_probability=model.probability_of_purchase(horizon_weeks, x, t_x, big_t),
        bg_p_alive=model.p_alive(x, t_x, big_t),
    )


def _fit_spend(features: pd.DataFrame) -> GammaGammaParams | None:
    """Gamma-Gamma on repeat buyers with positive spend; ``None`` when it cannot be fitted."""
    buyers = features[(features.x > 0) & (features.monetary_repeat_mean > 0)]
    try:
        return GammaGamma().fit(buyers.x, buyers.monetary_repeat_mean).params_
    except (ConvergenceError, InvalidInputError):
        return None


def _spend_per_purchase(
    frame: pd.DataFrame, params: GammaGammaParams | None
) -> npt.NDArray[np.float64]:
    """Gamma-Gamma's shrunk spend per purchase; each customer's own mean without it."""
    if params is None:
        return frame.monetary_mean.to_numpy(np.float64)
    return GammaGamma.from_params(params).expected_spend(frame.x, frame.monetary_repeat_mean)
