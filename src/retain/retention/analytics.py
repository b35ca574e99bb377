"""Cohorts, retention curves, active users and revenue curves, as Ibis expressions.

A customer's *cohort* is the week or month of their first purchase; they are
*retained* in period ``k`` of their cohort when they buy in it. Purchases are
the occasions of :func:`retain.features.purchase_occasions` (one per customer
and day, cancelled and returned orders excluded), so every capability agrees
on what a purchase is. Only periods that have started by ``as_of`` appear,
and a period still running at ``as_of`` is flagged ``complete = False``
rather than shown as a drop.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from retain.features.customer import FeatureTables, purchase_occasions

__all__ = [
    "Period",
    "active_users",
    "cohort_heatmap",
    "cohort_retention",
    "repeat_purchase_rate",
    "retention_curve",
    "revenue_curve",
]

Period = Literal["week", "month"]
_TRUNCATE = {"week": "W", "month": "M"}


def _period_start(day: ir.DateValue, period: Period) -> ir.DateValue:
    return day.truncate(_TRUNCATE[period])


def _periods_between(later: ir.DateValue, earlier: ir.DateValue, period: Period) -> ir.IntegerValue:
    if period == "week":
        return later.delta(earlier, unit="day") // 7
    return later.delta(earlier, unit="month")


def _cohort_activity(tables: FeatureTables, as_of: dt.date, period: Period) -> ir.Table:
    """Per customer and period index: spend in that period of their cohort."""
    occasions = purchase_occasions(tables.orders, as_of)
    firsts = occasions.group_by("user_id").aggregate(first_day=occasions.day.min())
    joined = occasions.join(firsts, "user_id")
    cohort = _period_start(joined.first_day, period)
    with_index = joined.mutate(
        cohort=cohort,
        period_index=_periods_between(_period_start(joined.day, period), cohort, period),
    )
    return with_index.group_by(["cohort", "user_id", "period_index"]).aggregate(
        spend=with_index.spend.sum()
    )


def cohort_retention(tables: FeatureTables, as_of: dt.date, period: Period = "month") -> ir.Table:
    """The cohort matrix: one row per cohort and period index.

    Columns: ``cohort`` (period start), ``period_index`` (0 = the first
    period), ``cohort_size``, ``active`` (customers who bought in that period),
    ``retention`` (``active / cohort_size``), ``revenue``, ``complete`` (the
    period has ended by ``as_of``) and ``complete_periods`` (how many of the
    cohort's periods have ended). Periods in which nobody bought have no row;
    :func:`cohort_heatmap` fills them with zeros.
    """
    activity = _cohort_activity(tables, as_of, period)
    sizes = (
        activity.filter(activity.period_index == 0)
        .group_by("cohort")
        .aggregate(cohort_size=ibis._.user_id.nunique())
    )
    counts = activity.group_by(["cohort", "period_index"]).aggregate(
        active=activity.user_id.nunique(), revenue=activity.spend.sum()
    )
    matrix = counts.join(sizes, "cohort")
    end = _period_start(ibis.date(as_of), period)
    last_index = _periods_between(end, matrix.cohort, period)
    return matrix.mutate(
        retention=matrix.active.cast("float64") / matrix.cohort_size,
        complete=matrix.period_index < last_index,
        complete_periods=last_index,
    ).order_by(["cohort", "period_index"])


def cohort_heatmap(matrix: pd.DataFrame) -> pd.DataFrame:
    """Cohorts × period index of retention: 0 where nobody came back, NaN where not yet observed."""
    if matrix.empty:
        return pd.DataFrame()
    sizes = matrix.groupby("cohort")[["cohort_size", "complete_periods"]].first()
    width = int(max(sizes.complete_periods.max(), matrix.period_index.max())) + 1
    grid = matrix.pivot(index="cohort", columns="period_index", values="retention")
    grid = grid.reindex(columns=range(width)).fillna(0.0)
    for cohort, row in sizes.iterrows():
        grid.loc[cohort, grid.columns > row.complete_periods] = float("nan")
    return grid


def retention_curve(matrix: pd.DataFrame) -> pd.DataFrame:
    """Share of customers retained ``k`` periods after their first, over all cohorts.

    Each point averages only the cohorts old enough to have lived through
    period ``k`` completely, weighted by cohort size, so young cohorts do not
    drag the tail down. ``cohorts`` says how many cohorts a point rests on.
    """
    columns = ["period_index", "retention", "customers", "cohorts"]
    if matrix.empty:
        return pd.DataFrame(columns=columns)
    sizes = matrix.groupby("cohort").cohort_size.first()
    complete = matrix.groupby("cohort").complete_periods.first()
    rows = []
    for k in range(int(matrix.period_index.max()) + 1):
        eligible = sizes.index if k == 0 else complete[complete > k].index
        if len(eligible) == 0:
            break
        at_k = matrix[(matrix.period_index == k) & matrix.cohort.isin(eligible)]
        customers = int(sizes.loc[eligible].sum())
        rows.append((k, float(at_k.active.sum()) / customers, customers, len(eligible)))
    return pd.DataFrame(rows, columns=columns)


def revenue_curve(matrix: pd.DataFrame) -> pd.DataFrame:
    """Cumulative revenue per acquired customer by period index, per cohort (LTV curves)."""
    if matrix.empty:
        return pd.DataFrame(columns=["cohort", "period_index", "revenue_per_customer"])
    ordered = matrix.sort_values(["cohort", "period_index"])
    cumulative = ordered.groupby("cohort").revenue.cumsum()
    return pd.DataFrame(
        {
            "cohort": ordered.cohort,
            "period_index": ordered.period_index,
            "revenue_per_customer": cumulative / ordered.cohort_size,
        }
    ).reset_index(drop=True)


def repeat_purchase_rate(tables: FeatureTables, as_of: dt.date) -> ir.Table:
    """Customers, repeat customers (two purchase days or more) and their share."""
    occasions = purchase_occasions(tables.orders, as_of)
    per = occasions.group_by("user_id").aggregate(days=occasions.count())
    return per.aggregate(
        customers=per.count(),
        repeat_customers=per.count(where=per.days >= 2),
    ).mutate(rate=ibis._.repeat_customers.cast("float64") / ibis.greatest(ibis._.customers, 1))


def active_users(
    tables: FeatureTables, as_of: dt.date, period: Literal["day", "week", "month"] = "day"
) -> ir.Table:
    """Distinct users with any event or purchase per day, week or month, up to ``as_of``."""
    end = ibis.timestamp(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))
    parts = [tables.orders.filter(tables.orders.ts < end).select("user_id", "ts")]
    if tables.events is not None:
        parts.append(tables.events.filter(tables.events.ts < end).select("user_id", "ts"))
    seen = ibis.union(*parts) if len(parts) > 1 else parts[0]
    unit = {"day": "D", "week": "W", "month": "M"}[period]
    bucketed = seen.mutate(start=seen.ts.date().truncate(unit))
    return (
        bucketed.group_by("start")
        .aggregate(active_users=bucketed.user_id.nunique())
        .order_by("start")
    )
