"""The cohorts page: the cohort heatmap, retention and revenue curves, and the
same curves split by segment or attribute.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from retain.currency import money_affixes
from retain.data.store import Store
from retain.data.summary import latest_order_day
from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables
from retain.retention.analytics import (
    BY_FIRST_CATEGORY,
    BY_RFM,
    attribute_names,
    cohort_heatmap,
    cohort_retention,
    retention_curve,
    revenue_curve,
    segment_matrix,
    split_caveat,
    thin_tail_note,
)
from retain.retention.cluster_training import LEARNED_KINDS
from retain.serve.pages.common import NO_ORDERS, figure_json


def cohorts_page(
    store: Store, period: str = "month", by: str = BY_RFM, currency: str | None = None
) -> dict[str, Any]:
    """The cohort heatmap, revenue per customer by cohort, and both curves split by ``by``
    (amounts in ``currency``, the shop's, where it names one)."""
    day = latest_order_day(store)
    if day is None:
        return {"empty": True, "message": NO_ORDERS, "period": period, "by": by, "splits": []}
    tables = FeatureTables.from_store(store)
    matrix = tables.fetch(cohort_retention(tables, day, period))  # type: ignore[arg-type]
    grid = cohort_heatmap(matrix)
    if grid.empty:
        return {"empty": True, "message": NO_ORDERS, "period": period, "by": by, "splits": []}
    labels = [f"{c:%Y-%m-%d}" for c in grid.index]
    values = (grid * 100).round(1)
    heatmap = go.Figure(
        go.Heatmap(
            z=values.to_numpy().tolist(),
            x=[f"+{k}" for k in grid.columns],
            y=labels,
            colorscale="Blues",
            zmin=0,
            zmax=100,
            hovertemplate="cohort %{y}, %{x}: %{z}%<extra></extra>",
        )
    ).update_layout(
        title=f"Share of each {period}'s new customers who bought again (%)",
        yaxis={"autorange": "reversed"},
    )
    single_period = int(grid.shape[1]) <= 1
    overall = retention_curve(matrix)
    return {
        "empty": False,
        "period": period,
        "as_of": day,
        "heatmap": figure_json(heatmap),
        "ltv_chart": figure_json(_cohort_value_figure(matrix, overall, period, currency)),
        "ltv_note": thin_tail_note(overall, matrix, period),
        "note": (
            f"Only one period of data so far: come back after the next {period} to see who returns."
            if single_period
            else "Blank cells are periods that have not happened yet; the last filled "
            "cell of each row is still running."
        ),
        **_split_by(tables, day, period, by, currency),
    }


#: Cohorts drawn one by one in the revenue chart; older ones are in the all-cohorts line.
_COHORT_LINES = 12


def resting_on(curve: pd.DataFrame, what: str) -> dict[str, Any]:
    """Hover text for an all-cohorts curve: the value and the customers and cohorts behind it."""
    return {
        "customdata": curve[["customers", "cohorts"]].to_numpy().tolist(),
        "hovertemplate": f"+%{{x}}: {what} (%{{customdata[0]:,}} customers, "
        "%{customdata[1]} cohorts)<extra></extra>",
    }


def _cohort_value_figure(
    matrix: pd.DataFrame, overall: pd.DataFrame, period: str, currency: str | None
) -> go.Figure:
    """Cumulative revenue per customer of the latest cohorts, and of all cohorts together.

    ``overall`` is :func:`retention_curve` of ``matrix``, which the page's note reads too.
    """
    before, after = money_affixes(currency)
    figure = go.Figure()
    per_cohort = revenue_curve(matrix)
    recent = sorted(per_cohort.cohort.unique())[-_COHORT_LINES:]
    for cohort in recent:
        line = per_cohort[per_cohort.cohort == cohort]
        figure.add_trace(
            go.Scatter(
                x=line.period_index,
                y=line.revenue_per_customer.round(2),
                mode="lines",
                name=f"{cohort:%Y-%m-%d}",
                line={"width": 1},
                opacity=0.6,
            )
        )
    figure.add_trace(
        go.Scatter(
            x=overall.period_index,
            y=overall.revenue_per_customer.round(2),
            mode="lines+markers",
            name="all cohorts",
            line={"width": 3, "color": "#111"},
            **resting_on(overall, f"{before}%{{y:,.2f}}{after} per customer"),
        )
    )
    return figure.update_layout(
        title=f"Revenue per customer since the first purchase (LTV), by {period} cohort",
        xaxis_title=f"{period}s after the first purchase",
        yaxis={"tickprefix": before, "ticksuffix": after},
    )


def _split_by(
    tables: FeatureTables, day: Any, period: str, by: str, currency: str | None
) -> dict[str, Any]:
    """Retention and LTV curves per segment, or a note saying why the split cannot be drawn."""
    learned = [k.name for k in LEARNED_KINDS.values() if k.customers_table in tables.learned]
    splits = [BY_RFM, *learned, BY_FIRST_CATEGORY, *attribute_names(tables)]
    found: dict[str, Any] = {"by": by, "splits": splits if by in splits else [*splits, by]}
    try:
        matrix = segment_matrix(tables, day, by, period)  # type: ignore[arg-type]
    except InvalidInputError as exc:
        return {**found, "split_note": f"Cannot split by {by!r}: {exc}."}
    curves = retention_curve(matrix)
    figures = {"retention": go.Figure(), "revenue_per_customer": go.Figure()}
    for segment, curve in curves.groupby("segment", sort=True):
        label = f"{segment} ({int(curve.customers.iloc[0]):,})"
        figures["retention"].add_trace(
            go.Scatter(x=curve.period_index, y=(curve.retention * 100).round(1), name=label)
        )
        figures["revenue_per_customer"].add_trace(
            go.Scatter(x=curve.period_index, y=curve.revenue_per_customer.round(2), name=label)
        )
    name = {
        BY_RFM: "RFM segment (today's)",
        BY_FIRST_CATEGORY: "category of the first purchase",
        **{k.name: f"{k.title} (today's)" for k in LEARNED_KINDS.values()},
    }.get(by, by)
    figures["retention"].update_layout(
        title=f"Customers buying again (%) by {name}",
        xaxis_title=f"{period}s after the first purchase",
    )
    before, after = money_affixes(currency)
    figures["revenue_per_customer"].update_layout(
        title=f"Revenue per customer so far (LTV) by {name}",
        xaxis_title=f"{period}s after the first purchase",
        yaxis={"tickprefix": before, "ticksuffix": after},
    )
    return {
        **found,
        "split_retention_chart": figure_json(figures["retention"]),
        "split_value_chart": figure_json(figures["revenue_per_customer"]),
        "split_note": f"{split_caveat(by)} Each point counts only the {period}ly cohorts "
        "that have lived through it; the number beside a name is its customers.",
    }
