"""The reviews page: the sentiment trend, aspects, and the alerts to answer first."""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

import ibis
import pandas as pd
import plotly.graph_objects as go

from retain.data.store import Store
from retain.serve.pages.common import figure_json

NO_REVIEW_SCORES = (
    "No review scores yet: run `retain train sentiment` (or `retain run`) to score reviews."
)


def reviews_page(store: Store, model_note: str | None = None) -> dict[str, Any]:
    """How customers feel each week, which aspects they blame, and the alerts to answer.

    ``model_note`` is the serving review model's word on how far to trust it
    (:attr:`SentimentModel.training_note`): the page's shares and alerts rest
    on that model, so its reader should see the warning the CLI and API give.
    """
    from retain.sentiment.service import ALERTS_TABLE, SCORES_TABLE, aspect_summary

    if not store.has_table(SCORES_TABLE) or store.count(SCORES_TABLE) == 0:
        return {"empty": True, "message": NO_REVIEW_SCORES}
    weekly = store.query_df(
        f"SELECT CAST(date_trunc('week', ts) AS DATE) AS week, count(*) AS reviews, "
        f"avg(CASE WHEN label = 0 THEN 1.0 ELSE 0.0 END) AS negative "
        f"FROM {SCORES_TABLE} WHERE label IS NOT NULL AND ts IS NOT NULL GROUP BY 1 ORDER BY 1"
    )
    trend = go.Figure()
    trend.add_trace(
        go.Bar(
            x=weekly.week.astype(str).tolist(),
            y=weekly.reviews.tolist(),
            name="reviews",
            marker_color="#c9d6e8",
        )
    )
    trend.add_trace(
        go.Scatter(
            x=weekly.week.astype(str).tolist(),
            y=(weekly.negative * 100).round(1).tolist(),
            name="% negative",
            yaxis="y2",
            mode="lines+markers",
        )
    )
    trend.update_layout(
        title="Reviews per week and the share that is negative",
        yaxis={"title": "reviews"},
        yaxis2={"title": "% negative", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        legend={"orientation": "h"},
    )
    mentions = aspect_summary(store, "week")
    mentions = mentions[mentions.aspect != "(all)"]
    mentions = mentions.assign(negative=(mentions.mentions * mentions.negative_share).round())
    per_aspect = mentions.groupby("aspect")[["mentions", "negative"]].sum().sort_values("negative")
    aspects = go.Figure()
    aspects.add_trace(
        go.Bar(
            y=per_aspect.index.tolist(),
            x=per_aspect.negative.tolist(),
            name="blamed",
            orientation="h",
            marker_color="#d62728",
        )
    )
    aspects.add_trace(
        go.Bar(
            y=per_aspect.index.tolist(),
            x=(per_aspect.mentions - per_aspect.negative).tolist(),
            name="praised",
            orientation="h",
            marker_color="#2ca02c",
        )
    )
    aspects.update_layout(title="What reviews praise and blame", barmode="stack")
    by_category = aspect_summary(store, "category", top=3).to_dict("records")
    alerts: list[dict[Hashable, Any]] = []
    if store.has_table(ALERTS_TABLE):
        alerts = store.query_df(
            f"SELECT a.*, r.text FROM {ALERTS_TABLE} a JOIN reviews r USING (review_id) "
            "ORDER BY a.urgency DESC, a.ts DESC LIMIT 30"
        ).to_dict("records")
        for alert in alerts:
            alert["reasons"] = json.loads(str(alert["reasons"]))
    turned = _turned_around(store)
    totals = store.query_df(
        f"SELECT count(*) AS n, avg(CASE WHEN label = 0 THEN 1.0 ELSE 0.0 END) AS negative, "
        f"any_value(model_version) AS version FROM {SCORES_TABLE} WHERE label IS NOT NULL"
    ).iloc[0]
    return {
        "empty": False,
        "reviews": int(totals.n),
        "negative_share": float(totals.negative),
        "version": totals.version,
        "high_alerts": sum(1 for a in alerts if a["priority"] == "high"),
        "trend": figure_json(trend),
        "aspects_chart": figure_json(aspects),
        "by_category": by_category,
        "alerts": alerts,
        "model_note": model_note,
        "turned_around": len(turned),
        "turned": turned.head(TURNED_SHOWN).to_dict("records"),
    }


#: How many of the reviews turned around the page lists (the newest edits).
TURNED_SHOWN = 20


def _turned_around(store: Store) -> pd.DataFrame:
    """Reviews edited from unhappy to not, newest edit first (see
    :func:`retain.features.customer.turned_around`)."""
    from retain.features.customer import FeatureTables, turned_around

    tables = FeatureTables.from_store(store)
    found = turned_around(tables)
    if found is None:
        return pd.DataFrame(columns=["review_id", "user_id", "edited_ts", "rating_before"])
    frame = tables.fetch(found.order_by(ibis.desc("edited_ts")))
    frame["edited_ts"] = frame.edited_ts.dt.strftime("%Y-%m-%d")
    return frame
