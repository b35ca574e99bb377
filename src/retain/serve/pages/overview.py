"""The overview page: the shop's KPIs, how fresh the scores are, and how the
last churn model did against what customers then did.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from retain.data.store import Store
from retain.data.summary import buyers_since, latest_order_day, shop_summary
from retain.features.customer import FeatureTables
from retain.predict.scoring import latest_check
from retain.retention.analytics import (
    active_users,
    cohort_retention,
    retention_curve,
    thin_tail_note,
)
from retain.retention.by_orders import ByOrders
from retain.retention.segments import MOVES_DAYS, count_moves
from retain.serve.pages.cohorts import resting_on
from retain.serve.pages.common import NO_ORDERS, NO_SCORES, figure_json, stored_scores


def overview_page(store: Store) -> dict[str, Any]:
    """KPIs, active customers per week and the retention curve."""
    summary = shop_summary(store)
    day = latest_order_day(store)
    page: dict[str, Any] = {
        "summary": summary,
        "as_of": day,
        "empty": day is None,
        "slipped": None,
        "moves_days": MOVES_DAYS,
    }
    if day is None:
        page["message"] = NO_ORDERS
        return page
    tables = FeatureTables.from_store(store)
    weekly = tables.fetch(active_users(tables, day, "week"))
    page["active_chart"] = figure_json(
        go.Figure(go.Bar(x=weekly.start.astype(str), y=weekly.active_users)).update_layout(
            title="Active customers per week"
        )
    )
    matrix = tables.fetch(cohort_retention(tables, day, "month"))
    curve = retention_curve(matrix)
    page["curve_chart"] = figure_json(
        go.Figure(
            go.Scatter(
                x=curve.period_index,
                y=(curve.retention * 100).round(1),
                mode="lines+markers",
                **resting_on(curve, "%{y}% bought"),
            )
        ).update_layout(
            title="Customers buying again, by months since their first purchase (%)",
            xaxis_title="months after the first purchase",
        )
    )
    page["curve_note"] = thin_tail_note(curve, matrix, "month")
    page.update(_model_check(store))
    start = day - dt.timedelta(days=MOVES_DAYS)
    moves = count_moves(ByOrders.of(store, tables).moves(start, day))
    page["slipped"] = moves.slipped if moves.earlier else None
    scores = stored_scores(store)
    page["scores"] = None
    if scores is not None and len(scores):
        page["scores"] = {
            "customers": len(scores),
            "mean_churn_risk": float(scores.churn_risk.mean()),
            "expected_purchases": float(scores.expected_purchases.sum()),
            "expected_value": float(scores.expected_lifetime_value.sum()),
            "horizon_days": int(scores.horizon_days.iloc[0]),
            "model_version": str(scores.model_version.iloc[0]),
        }
        page["scores"].update(_freshness(store, scores))
    else:
        page["scores_message"] = NO_SCORES
    return page


def _freshness(store: Store, scores: pd.DataFrame) -> dict[str, Any]:
    """As of which day the loaded ``scores`` are, and how many scored customers bought since."""
    cutoff = pd.Timestamp(scores.cutoff.min()).date()
    bought = buyers_since(store, cutoff) & set(scores.user_id.astype(str))
    return {"cutoff": cutoff, "bought_since": len(bought)}


def _model_check(store: Store) -> dict[str, Any]:
    """The churn model's last check on the shop's own past, with its reliability diagram."""
    found = latest_check(store)
    if found is None:
        return {"check": None}
    check, version = found
    predicted = [100 * p for p, _, _ in check.reliability]
    observed = [100 * o for _, o, _ in check.reliability]
    top = max([*predicted, *observed, 1.0])
    figure = go.Figure(
        [
            go.Scatter(
                x=[0, top],
                y=[0, top],
                mode="lines",
                name="perfectly calibrated",
                line={"dash": "dot", "color": "#999"},
            ),
            go.Scatter(
                x=predicted,
                y=observed,
                mode="lines+markers",
                name="churn model",
                text=[f"{n:,} customers" for _, _, n in check.reliability],
                hovertemplate="predicted %{x:.1f}%, bought %{y:.1f}% (%{text})<extra></extra>",
            ),
        ]
    ).update_layout(
        title="Predicted against observed repurchase, by tenth of customers (%)",
        xaxis_title="predicted chance of buying again (%)",
        yaxis_title="share who did (%)",
    )
    return {"check": check, "check_version": version, "check_chart": figure_json(figure)}
