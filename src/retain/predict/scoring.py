"""Train on the store, publish the model, and score every customer into ``user_scores``.

``user_scores`` is the contract with the retention engine and the service:
one row per customer with the scores, the reasons, the cutoff they are as of,
the horizon they are about and the model version that made them. The table
is replaced atomically, so readers never see half a scoring run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from retain.artifacts import publish, version_path
from retain.data.store import Store
from retain.data.summary import last_order_day
from retain.errors import InvalidInputError, NotFoundError
from retain.features.customer import FeatureTables
from retain.predict.model import BehaviourModel

__all__ = [
    "RANKINGS",
    "SCORES_TABLE",
    "TrainResult",
    "last_order_day",
    "load_current",
    "score_users",
    "top_scores",
    "train_and_score",
]

SCORES_TABLE = "user_scores"
MODEL_KIND = "predict"


@dataclass(frozen=True)
class TrainResult:
    """What ``retain train predict`` did."""

    version: str
    cutoff: dt.date
    horizon_days: int
    customers_scored: int
    training_rows: int
    backtests: int
    mean_churn_risk: float
    expected_purchases: float


def train_and_score(
    store: Store,
    models_root: Path,
    *,
    cutoff: dt.date | None = None,
    horizon_days: int = 90,
    seed: int = 0,
) -> TrainResult:
    """Fit a :class:`BehaviourModel` as of ``cutoff``, publish it, score all customers."""
    tables = FeatureTables.from_store(store)
    as_of = cutoff or last_order_day(store)
    model = BehaviourModel(horizon_days=horizon_days, seed=seed).fit(tables, as_of)
    version = publish(models_root, MODEL_KIND, model.save)
    scored = score_users(store, model, version)
    return TrainResult(
        version=version,
        cutoff=as_of,
        horizon_days=horizon_days,
        customers_scored=scored.num_rows,
        training_rows=model.training_rows_,
        backtests=len(model.backtests_),
        mean_churn_risk=_mean(scored, "churn_risk"),
        expected_purchases=_total(scored, "expected_purchases"),
    )


def load_current(models_root: Path, version: str | None = None) -> BehaviourModel:
    """The published model (the current one unless ``version`` is given)."""
    return BehaviourModel.load(version_path(models_root, MODEL_KIND, version))


def score_users(
    store: Store, model: BehaviourModel, version: str, cutoff: dt.date | None = None
) -> pa.Table:
    """Score every customer as of ``cutoff`` and replace ``user_scores`` with the result."""
    as_of = cutoff or model.cutoff_
    scores = model.predict(FeatureTables.from_store(store), as_of)
    table = pa.Table.from_pandas(scores, preserve_index=False)
    n = table.num_rows
    table = (
        table.append_column("cutoff", pa.array([as_of] * n, pa.date32()))
        .append_column("horizon_days", pa.array([model.horizon_days] * n, pa.int32()))
        .append_column("model_version", pa.array([version] * n, pa.string()))
        .append_column(
            "scored_at",
            pa.array([dt.datetime.now(dt.UTC).replace(tzinfo=None)] * n, pa.timestamp("us")),
        )
    )
    store.write_table(SCORES_TABLE, table)
    return table


RANKINGS = ("churn_risk", "expected_lifetime_value", "repurchase_probability")


def top_scores(store: Store, limit: int = 20, by: str = "churn_risk") -> pd.DataFrame:
    """The ``limit`` customers highest on ``by`` from the latest scoring run."""
    if by not in RANKINGS:
        raise InvalidInputError(f"cannot rank by {by!r}; choose one of: {', '.join(RANKINGS)}")
    if limit < 1:
        raise InvalidInputError(f"limit must be at least 1; got {limit}")
    if not store.has_table(SCORES_TABLE):
        raise NotFoundError("no user_scores yet; run `retain train predict` first")
    return store.query_df(
        f"SELECT * FROM {SCORES_TABLE} ORDER BY {by} DESC, user_id LIMIT ?", [limit]
    )


def _mean(table: pa.Table, column: str) -> float:
    values = table.column(column).to_numpy()
    return float(values.mean()) if len(values) else 0.0


def _total(table: pa.Table, column: str) -> float:
    return float(table.column(column).to_numpy().sum())
