"""Experiments in the store: who was exposed to what, and what happened after.

A campaign becomes an experiment by holding some of its customers out: each
planned customer is assigned by :func:`~retain.retention.experiments.assign`
to ``treatment`` (gets the action) or ``control`` (does not), and the
assignment is logged in ``assignments`` with the exposure time. The report
then compares, per horizon (D7, D30, D90 after exposure), the share of each
arm that bought again and the revenue per customer, with intervals. Revenue
is CUPED-adjusted with the same customers' revenue in the 90 days before
exposure. A horizon that has not fully elapsed in the data is reported as
pending instead of being read early.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retain.data.schemas import net_amount_sql, purchase_sql
from retain.data.store import Store
from retain.data.summary import last_order_day
from retain.errors import InvalidInputError, NotFoundError
from retain.retention.experiments import Comparison, assign, cuped, mean_test, proportion_test

__all__ = [
    "ASSIGNMENTS_TABLE",
    "HorizonResult",
    "experiment_report",
    "log_assignments",
]

ASSIGNMENTS_TABLE = "assignments"
CONTROL, TREATMENT = "control", "treatment"
_PRE_PERIOD_DAYS = 90


def log_assignments(
    store: Store,
    experiment: str,
    user_ids: list[str],
    *,
    holdout: float,
    exposed_at: dt.datetime,
    campaign_id: str | None = None,
) -> pd.DataFrame:
    """Assign ``user_ids`` to treatment or control and log the exposure; returns the log."""
    if not 0 < holdout < 1:
        raise InvalidInputError(f"holdout must be a share between 0 and 1; got {holdout}")
    if store.has_table(ASSIGNMENTS_TABLE):
        taken = store.query_df(
            f"SELECT count(*) AS n FROM {ASSIGNMENTS_TABLE} WHERE experiment = ?", [experiment]
        ).n.iloc[0]
        if taken:
            raise InvalidInputError(
                f"experiment {experiment!r} already exists; choose another name"
            )
    log = pd.DataFrame(
        {
            "experiment": experiment,
            "user_id": user_ids,
            "variant": [
                assign(u, experiment, (TREATMENT, CONTROL), (1 - holdout, holdout))
                for u in user_ids
            ],
            "exposed_at": pd.Timestamp(exposed_at),
            "campaign_id": campaign_id,
        }
    )
    if len(log):
        store.write_table(ASSIGNMENTS_TABLE, log, mode="append")
    return log


@dataclass(frozen=True)
class HorizonResult:
    """One horizon's comparison of treatment against control."""

    days: int
    ready: bool
    ends: dt.date
    repurchase: Comparison | None
    revenue: Comparison | None


def experiment_report(
    store: Store, experiment: str, horizons: tuple[int, ...] = (7, 30, 90)
) -> list[HorizonResult]:
    """Repurchase and revenue per arm at each horizon after exposure."""
    if not store.has_table(ASSIGNMENTS_TABLE):
        raise NotFoundError("no experiments yet; start one with `retain campaign --holdout`")
    arms = store.query_df(
        f"SELECT user_id, variant, exposed_at FROM {ASSIGNMENTS_TABLE} WHERE experiment = ?",
        [experiment],
    )
    if arms.empty:
        known = store.query_df(f"SELECT DISTINCT experiment FROM {ASSIGNMENTS_TABLE}").experiment
        raise NotFoundError(
            f"no experiment {experiment!r}; known: {', '.join(sorted(known)) or 'none'}"
        )
    exposed = pd.Timestamp(arms.exposed_at.min())
    data_end = last_order_day(store)
    with store.registered("_arms", arms):
        net = net_amount_sql(store.columns("orders"), "o")  # partial refunds given back
        spend = store.query_df(
            f"SELECT a.user_id, o.ts, {net} AS amount FROM _arms a JOIN orders o USING (user_id) "
            f"WHERE {purchase_sql('o.status')}"
        )
    before = spend[
        (spend.ts < exposed) & (spend.ts >= exposed - pd.Timedelta(days=_PRE_PERIOD_DAYS))
    ]
    pre = before.groupby("user_id").amount.sum().reindex(arms.user_id, fill_value=0.0)
    results = []
    for days in horizons:
        ends = (exposed + pd.Timedelta(days=days)).date()
        if ends > data_end:
            results.append(HorizonResult(days, False, ends, None, None))
            continue
        window = spend[(spend.ts >= exposed) & (spend.ts < exposed + pd.Timedelta(days=days))]
        revenue = window.groupby("user_id").amount.sum().reindex(arms.user_id, fill_value=0.0)
        bought = revenue.to_numpy() > 0
        control = (arms.variant == CONTROL).to_numpy()
        if control.all() or not control.any():
            raise InvalidInputError(f"experiment {experiment!r} needs users in both arms")
        adjusted = cuped(revenue.to_numpy(np.float64), pre.to_numpy(np.float64))
        results.append(
            HorizonResult(
                days,
                True,
                ends,
                proportion_test(
                    int(bought[control].sum()),
                    int(control.sum()),
                    int(bought[~control].sum()),
                    int((~control).sum()),
                ),
                mean_test(adjusted[control], adjusted[~control]),
            )
        )
    return results
