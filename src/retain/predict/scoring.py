"""Train on the store, publish the model, and score every customer into ``user_scores``.

``user_scores`` is the contract with the retention engine and the service:
one row per customer with the scores, the reasons, the cutoff they are as of,
the horizon they are about and the model version that made them. The table
is replaced atomically, so readers never see half a scoring run.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from retain.artifacts import publish, version_path
from retain.data.store import Store
from retain.data.summary import last_order_day
from retain.errors import ConvergenceError, InvalidInputError, NotFoundError
from retain.features.customer import FeatureTables
from retain.predict.model import BehaviourModel

__all__ = [
    "CHECKS_TABLE",
    "RANKINGS",
    "SCORES_TABLE",
    "ModelCheck",
    "TrainResult",
    "check_model",
    "last_order_day",
    "latest_check",
    "load_current",
    "score_users",
    "top_scores",
    "train_and_score",
]

SCORES_TABLE = "user_scores"
#: The latest :class:`ModelCheck`, one row, replaced by every training run that checks.
CHECKS_TABLE = "model_checks"
MODEL_KIND = "predict"


@dataclass(frozen=True)
class ModelCheck:
    """How the model did on the shop's own recent past: :func:`check_model`."""

    calibration_end: dt.date
    holdout_end: dt.date
    customers: int
    auc: float
    bgnbd_auc: float
    brier: float
    bgnbd_brier: float
    ece: float
    predicted_rate: float
    observed_rate: float
    #: (mean predicted, observed repurchase rate, customers) per tenth, lowest first.
    reliability: list[tuple[float, float, int]]


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
    check: ModelCheck | None = None
    check_note: str = ""


def train_and_score(
    store: Store,
    models_root: Path,
    *,
    cutoff: dt.date | None = None,
    horizon_days: int = 90,
    seed: int = 0,
    check: bool = True,
    currency: str | None = None,
) -> TrainResult:
    """Fit a :class:`BehaviourModel` as of ``cutoff``, publish it, score all customers.

    With ``check`` the same model is also replayed ``horizon_days`` earlier
    and compared with what customers did since (:func:`check_model`), and
    the result replaces ``model_checks``, so the dashboard can show how far
    the scores can be trusted on this shop. It doubles the training time.
    """
    tables = FeatureTables.from_store(store)
    as_of = cutoff or last_order_day(store)
    model = BehaviourModel(horizon_days=horizon_days, seed=seed).fit(tables, as_of)
    version = publish(models_root, MODEL_KIND, model.save)
    scored = score_users(store, model, version, currency=currency)
    checked, note = (None, "no check: not asked for")
    if check:
        checked, note = check_model(store, as_of, horizon_days, seed=seed)
        if checked is not None:
            _write_check(store, checked, version)
    return TrainResult(
        version=version,
        cutoff=as_of,
        horizon_days=horizon_days,
        customers_scored=scored.num_rows,
        training_rows=model.training_rows_,
        backtests=len(model.backtests_),
        mean_churn_risk=_mean(scored, "churn_risk"),
        expected_purchases=_total(scored, "expected_purchases"),
        check=checked,
        check_note=note,
    )


def check_model(
    store: Store, cutoff: dt.date, horizon_days: int, *, seed: int = 0
) -> tuple[ModelCheck | None, str]:
    """Fit as of ``horizon_days`` before ``cutoff`` and score what customers did since.

    The replayed model sees only data up to its own cutoff, exactly as the
    live one does, so its accuracy on the window that followed is what to
    expect of the live scores (given a similar season). Returns the check,
    or ``None`` and why not (a history shorter than twice the horizon,
    nobody or everybody buying in the window).
    """
    from retain.predict.bench import evaluate_holdout

    start = cutoff - dt.timedelta(days=horizon_days)
    try:
        found = evaluate_holdout(store, start, cutoff, seed=seed)
    except (InvalidInputError, ConvergenceError) as exc:
        return None, f"no check: {exc}"
    metrics, bgnbd = found["metrics"], found["baselines"]["bgnbd_retain_fit"]
    if not 0 < metrics["repurchase_rate"] < 1:
        return None, "no check: everybody or nobody bought again in the checked window"
    return (
        ModelCheck(
            calibration_end=start,
            holdout_end=cutoff,
            customers=int(found["customers"]),
            auc=metrics["auc"],
            bgnbd_auc=bgnbd["auc"],
            brier=metrics["brier"],
            bgnbd_brier=bgnbd["brier"],
            ece=metrics["ece"],
            predicted_rate=metrics["mean_probability"],
            observed_rate=metrics["repurchase_rate"],
            reliability=[
                (b["predicted"], b["observed"], b["customers"]) for b in found["reliability"]
            ],
        ),
        "",
    )


def _write_check(store: Store, check: ModelCheck, version: str) -> None:
    row = {**asdict(check), "reliability": json.dumps(check.reliability)}
    row["model_version"] = version
    row["checked_at"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store.write_table(CHECKS_TABLE, pd.DataFrame([row]))


def latest_check(store: Store) -> tuple[ModelCheck, str] | None:
    """The check stored by the last :func:`train_and_score` and its model version."""
    if not store.has_table(CHECKS_TABLE):
        return None
    rows = store.query_df(f"SELECT * FROM {CHECKS_TABLE} ORDER BY checked_at DESC LIMIT 1")
    if rows.empty:
        return None
    row = {str(k): v for k, v in rows.iloc[0].to_dict().items()}
    version = str(row.pop("model_version"))
    row.pop("checked_at")
    row["reliability"] = [tuple(b) for b in json.loads(row["reliability"])]
    for day in ("calibration_end", "holdout_end"):
        row[day] = pd.Timestamp(row[day]).date()
    row["customers"] = int(row["customers"])
    return ModelCheck(**row), version


def load_current(models_root: Path, version: str | None = None) -> BehaviourModel:
    """The published model (the current one unless ``version`` is given)."""
    return BehaviourModel.load(version_path(models_root, MODEL_KIND, version))


def score_users(
    store: Store,
    model: BehaviourModel,
    version: str,
    cutoff: dt.date | None = None,
    currency: str | None = None,
) -> pa.Table:
    """Score every customer as of ``cutoff`` and replace ``user_scores`` with the result
    (the reasons' amounts in ``currency``, the shop's, where it names one)."""
    as_of = cutoff or model.cutoff_
    scores = model.predict(FeatureTables.from_store(store), as_of, currency=currency)
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
