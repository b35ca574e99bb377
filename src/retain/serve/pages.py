"""What each dashboard page shows, computed from the store.

Pure functions from an open store to plain dicts and Plotly figures, so the
pages are testable without a browser and the web layer stays thin. Every
function copes with a shop that has no data yet: it returns ``empty`` with a
sentence saying what is missing instead of raising.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Hashable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from retain.currency import money_affixes
from retain.data.consent import consent_history, stored_consent
from retain.data.store import Store
from retain.data.summary import buyers_since, latest_order_day, shop_summary
from retain.data.user_ids import fold_email_id
from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables
from retain.predict.scoring import latest_check
from retain.retention.analytics import (
    BY_FIRST_CATEGORY,
    BY_RFM,
    active_users,
    attribute_names,
    cohort_heatmap,
    cohort_retention,
    retention_curve,
    revenue_curve,
    segment_matrix,
    split_caveat,
    thin_tail_note,
)
from retain.retention.by_orders import ByOrders
from retain.retention.campaign import campaign_rows, campaign_summaries, customer_campaigns
from retain.retention.cluster_training import (
    BEHAVIOUR,
    LEARNED_KINDS,
    TASTE,
    LearnedKind,
    stored_cluster_of,
    stored_clusters,
)
from retain.retention.clusters import Cluster
from retain.retention.members import segment_members
from retain.retention.policy import DEFAULT_ACTIONS, Action, value_if_retained
from retain.retention.segments import (
    MOVES_DAYS,
    NOT_YET,
    SEGMENTS,
    count_moves,
    describe_moves,
)
from retain.retention.tracking import ASSIGNMENTS_TABLE, experiment_report

__all__ = [
    "at_risk_page",
    "cohorts_page",
    "customer_page",
    "experiments_page",
    "overview_page",
    "recommendations_page",
    "reviews_page",
    "segment_page",
    "segments_page",
]

NO_ORDERS = "No orders yet: ingest orders (retain ingest orders FILE) or run `retain run`."
NO_SCORES = "No scores yet: run `retain train predict` (or `retain run`) to score customers."


def _records(frame: pd.DataFrame) -> list[dict[Hashable, Any]]:
    """Rows for a template, with None where pandas has NaN (which Jinja treats as true)."""
    return [
        {key: (None if isinstance(v, float) and v != v else v) for key, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _figure(figure: go.Figure) -> str:
    """Figure JSON for ``Plotly.newPlot`` in the page."""
    figure.update_layout(margin={"l": 40, "r": 10, "t": 40, "b": 40}, height=360)
    return str(figure.to_json())


def _scores(store: Store) -> pd.DataFrame | None:
    if not store.has_table("user_scores"):
        return None
    return store.query_df("SELECT * FROM user_scores")


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
    page["active_chart"] = _figure(
        go.Figure(go.Bar(x=weekly.start.astype(str), y=weekly.active_users)).update_layout(
            title="Active customers per week"
        )
    )
    matrix = tables.fetch(cohort_retention(tables, day, "month"))
    curve = retention_curve(matrix)
    page["curve_chart"] = _figure(
        go.Figure(
            go.Scatter(
                x=curve.period_index,
                y=(curve.retention * 100).round(1),
                mode="lines+markers",
                **_resting_on(curve, "%{y}% bought"),
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
    scores = _scores(store)
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
    return {"check": check, "check_version": version, "check_chart": _figure(figure)}


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
        "heatmap": _figure(heatmap),
        "ltv_chart": _figure(_cohort_value_figure(matrix, overall, period, currency)),
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


def _resting_on(curve: pd.DataFrame, what: str) -> dict[str, Any]:
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
            **_resting_on(overall, f"{before}%{{y:,.2f}}{after} per customer"),
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
        "split_retention_chart": _figure(figures["retention"]),
        "split_value_chart": _figure(figures["revenue_per_customer"]),
        "split_note": f"{split_caveat(by)} Each point counts only the {period}ly cohorts "
        "that have lived through it; the number beside a name is its customers.",
    }


def at_risk_page(store: Store, limit: int = 50) -> dict[str, Any]:
    """Customers still reachable but likely to leave, most value at stake first.

    "Reachable": BG/NBD still gives them at least a 20% chance of being an
    active customer (the long-gone are a different list). Value at stake is
    churn risk times what they would spend if they stay.
    """
    scores = _scores(store)
    if scores is None or scores.empty:
        return {"empty": True, "message": NO_SCORES, "rows": []}
    reachable = scores[(scores.p_alive >= 0.2) & (scores.churn_risk >= 0.5)]
    worth_saving = (
        reachable.assign(at_stake=reachable.churn_risk * value_if_retained(reachable))
        .sort_values("at_stake", ascending=False)
        .head(limit)
    )
    actions: dict[str, str] = {}
    if store.has_table("interventions"):
        latest = store.query_df(
            "SELECT user_id, action FROM interventions WHERE campaign_id = "
            "(SELECT campaign_id FROM interventions ORDER BY created_at DESC LIMIT 1)"
        )
        actions = dict(zip(latest.user_id, latest.action, strict=True))
    as_of = pd.Timestamp(scores.cutoff.iloc[0]).date()
    returned = buyers_since(store, as_of) & set(worth_saving.user_id.astype(str))
    rows = [
        {
            "user_id": row["user_id"],
            "churn_risk": float(row["churn_risk"]),
            "expected_value": float(row["expected_lifetime_value"]),
            "at_stake": float(row["at_stake"]),
            "reasons": list(row["reasons"]),
            "action": actions.get(row["user_id"], "none planned"),
            "bought_since": row["user_id"] in returned,
        }
        for row in worth_saving.to_dict("records")
    ]
    return {
        "empty": False,
        "rows": rows,
        "horizon_days": int(scores.horizon_days.iloc[0]),
        "has_campaign": bool(actions),
        "scored_as_of": as_of.isoformat(),
        "bought_since": len(returned),
    }


def customer_page(store: Store, user_id: str) -> dict[str, Any] | None:
    """One customer's scores, reasons, next items, orders and contacts; ``None`` if unknown."""
    user_id = fold_email_id(user_id)  # /customers/Ann@Shop.com is ann@shop.com
    known = store.query_df(
        "SELECT (SELECT count(*) FROM orders WHERE user_id = ?) + "
        "(SELECT count(*) FROM events WHERE user_id = ?) + "
        "(SELECT count(*) FROM users WHERE user_id = ?) AS n",
        [user_id, user_id, user_id],
    ).n.iloc[0]
    if not known:
        return None
    # When the order took its status (a return's day); a store from before status_ts has none.
    since = "strftime(status_ts, '%Y-%m-%d')" if "status_ts" in store.columns("orders") else "NULL"
    orders = store.query_df(
        f"SELECT order_id, ts, amount, status, {since} AS status_since FROM orders "
        "WHERE user_id = ? ORDER BY ts DESC",
        [user_id],
    )
    contacts = store.query_df(
        "SELECT conversation_id, min(ts) AS ts, string_agg(text, ' / ' ORDER BY turn) AS text "
        "FROM conversations WHERE user_id = ? GROUP BY conversation_id ORDER BY ts DESC",
        [user_id],
    )
    reviews = store.query_df(
        "SELECT ts, rating, text FROM reviews WHERE user_id = ? ORDER BY ts DESC", [user_id]
    )
    events = store.query_df(
        "SELECT event_type, count(*) AS n FROM events WHERE user_id = ? GROUP BY 1 ORDER BY 2 DESC",
        [user_id],
    )
    score = None
    if store.has_table("user_scores"):
        found = store.query_df("SELECT * FROM user_scores WHERE user_id = ?", [user_id])
        if len(found):
            record = found.iloc[0]
            score = {
                "churn_risk": float(record.churn_risk),
                "repurchase_probability": float(record.repurchase_probability),
                "p_alive": float(record.p_alive),
                "expected_purchases": float(record.expected_purchases),
                "expected_value": float(record.expected_lifetime_value),
                "reasons": list(record.reasons),
                "horizon_days": int(record.horizon_days),
                "nobody_gone": _nobody_gone(store),
            }
    recommended = (
        _user_recommendations(store, user_id, 10) if store.has_table("recommendations") else []
    )
    return {
        "user_id": user_id,
        "score": score,
        "segments": _customer_segments(store, user_id) if len(orders) else None,
        "campaigns": _records(customer_campaigns(store, user_id)),
        "marketing_consent": stored_consent(store, user_id),
        "consent_change": next(iter(consent_history(store, user_id, limit=1)), None),
        "recommended": recommended,
        "orders": _records(orders),
        "contacts": contacts.to_dict("records"),
        "reviews": reviews.to_dict("records"),
        "events": events.to_dict("records"),
    }


def _segment_of(scored: pd.DataFrame, user_id: str) -> str | None:
    """The segment of ``user_id`` in an :func:`rfm_segments` frame; ``None`` when absent."""
    found = scored.segment[scored.user_id == user_id]
    return str(found.iloc[0]) if len(found) else None


def _nobody_gone(store: Store) -> bool:
    """Whether BG/NBD counts every scored customer as more likely active than gone.

    A shop whose history shows no one leaving for good (on the UCI Online
    Retail year BG/NBD's dropout after a purchase is 0.04%) gets ``p_alive``
    near 1 for everyone — a customer silent for a year reads "still active
    98.5%" beside a 63% churn risk. The page then says that the rhythm
    model finds no dropout, so "still active" is not read as good news.
    """
    row = store.execute("SELECT min(p_alive) FROM user_scores").fetchall()
    return bool(row and row[0][0] is not None and row[0][0] >= 0.5)


def _customer_segments(store: Store, user_id: str) -> dict[str, Any] | None:
    """The customer's RFM segment today and :data:`MOVES_DAYS` days ago, and learned segment."""
    day = latest_order_day(store)
    if day is None:
        return None
    tables = FeatureTables.from_store(store)
    start = day - dt.timedelta(days=MOVES_DAYS)
    by_orders = ByOrders.of(store, tables)
    now, before = (_segment_of(by_orders.rfm(d), user_id) for d in (day, start))
    if now is None:
        return None  # bought only after the last order day counted (or only cancelled)
    return {
        "as_of": day,
        "rfm": now,
        "since": start,
        "rfm_before": before or NOT_YET,
        "learned": _stored_segment_of(store, user_id, BEHAVIOUR),
        "taste": _stored_segment_of(store, user_id, TASTE),
    }


def _stored_segment_of(store: Store, user_id: str, kind: LearnedKind) -> Cluster | None:
    """The stored learned segment of ``kind`` the customer is in; ``None`` before training."""
    label, stored = stored_cluster_of(store, user_id, kind), stored_clusters(store, kind)
    return next((c for c in stored.clusters if c.label == label), None) if stored else None


def segments_page(store: Store) -> dict[str, Any]:
    """RFM segments: sizes, typical values and what to do, with a bar chart."""
    day = latest_order_day(store)
    if day is None:
        return {"empty": True, "message": NO_ORDERS, "rows": []}
    tables = FeatureTables.from_store(store)
    by_orders = ByOrders.of(store, tables)
    scored = by_orders.rfm(day)
    summary = scored.groupby("segment").agg(
        customers=("user_id", "size"),
        recency=("recency_days", "median"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
    )
    stats = summary.to_dict("index")
    rows = [
        {
            "name": s.name,
            "description": s.description,
            "action": s.action,
            "customers": int(stats[s.name]["customers"]),
            "share": stats[s.name]["customers"] / len(scored),
            "recency": float(stats[s.name]["recency"]),
            "frequency": float(stats[s.name]["frequency"]),
            "monetary": float(stats[s.name]["monetary"]),
        }
        for s in SEGMENTS
        if s.name in stats
    ]
    chart = go.Figure(
        go.Bar(x=[r["name"] for r in rows], y=[r["customers"] for r in rows])
    ).update_layout(title="Customers per RFM segment")
    learned = [_learned_segments(store, tables, day, kind) for kind in LEARNED_KINDS.values()]
    return {
        "empty": False,
        "rows": rows,
        "as_of": day,
        "chart": _figure(chart),
        **_segment_moves(by_orders, day),
        "learned": learned,
    }


def _segment_moves(by_orders: ByOrders, day: dt.date) -> dict[str, Any]:
    """Where customers moved between RFM segments over the last :data:`MOVES_DAYS` days."""
    start = day - dt.timedelta(days=MOVES_DAYS)
    moves = by_orders.moves(start, day)
    counts = count_moves(moves)
    if not counts.earlier:
        return {
            "moves_chart": None,
            "moves_rows": [],
            "moves_note": f"No moves yet: nobody had bought by {start}, {MOVES_DAYS} days "
            "before the last order.",
        }
    order = [s.name for s in SEGMENTS]
    grid = moves.pivot_table(
        index="from_segment", columns="to_segment", values="customers", aggfunc="sum"
    )
    rows_order = [NOT_YET, *order]
    grid = grid.reindex(
        index=[n for n in rows_order if n in grid.index],
        columns=[n for n in order if n in grid.columns],
    ).fillna(0)
    heatmap = go.Figure(
        go.Heatmap(
            z=grid.to_numpy().astype(int).tolist(),
            x=list(grid.columns),
            y=list(grid.index),
            colorscale="Blues",
            hovertemplate="%{z} customers: %{y} → %{x}<extra></extra>",
        )
    ).update_layout(
        title=f"Segment {MOVES_DAYS} days ago (rows) and today (columns)",
        yaxis={"autorange": "reversed"},
        xaxis={"tickangle": -30},
    )
    changed = moves[moves.from_segment != moves.to_segment]
    return {
        "moves_chart": _figure(heatmap),
        "moves_rows": changed.head(8).to_dict("records"),
        "moves_note": f"Since {start}: {describe_moves(counts)}",
    }


#: The Segments page's heading and lead for each learned kind, and its table's id.
_LEARNED_SECTIONS = {
    "cluster": (
        "Learned segments",
        "Groups found in the customers' behaviour (k-means), described by what sets each "
        "apart from the typical customer.",
        "clusters",
    ),
    "taste": (
        "Taste segments",
        "Groups found in what customers buy: the share of their purchases in each category "
        "(k-means), described by the categories that set each apart.",
        "tastes",
    ),
}


def _learned_segments(
    store: Store, tables: FeatureTables, day: dt.date, kind: LearnedKind
) -> dict[str, Any]:
    """One learned kind's stored segments and where they come from; fitted now when none are."""
    heading, lead, table_id = _LEARNED_SECTIONS[kind.name]
    section = {"kind": kind.name, "heading": heading, "lead": lead, "id": table_id}
    stored = stored_clusters(store, kind)
    if stored is not None:
        return section | {
            "clusters": stored.clusters,
            "note": f"Learned on {stored.as_of} (model {stored.version}); "
            "`retain train segments` refreshes them and keeps the numbers of those still there.",
        }
    try:
        _, learned = kind.fit_now(tables, day)
    except InvalidInputError as exc:
        return section | {"clusters": [], "note": f"No {heading.lower()}: {exc}."}
    return section | {
        "clusters": learned,
        "note": "Fitted for this page and not stored, so the numbers may change with the data: "
        "`retain train segments` stores them.",
    }


#: Members listed on a segment's page; the CSV holds them all.
MEMBERS_SHOWN = 200


def segment_page(
    store: Store, kind: str, name: str, moved_from: str | None = None
) -> dict[str, Any] | None:
    """One segment's customers (the first :data:`MEMBERS_SHOWN`), each linked to their page.

    With ``moved_from``, only those who were in that RFM segment
    :data:`MOVES_DAYS` days ago (a cell of the Segments page's moves).
    """
    found = segment_members(store, kind, name, moved_from=moved_from, days=MOVES_DAYS)
    if found is None:
        return None
    rows = _records(found.customers.head(MEMBERS_SHOWN))
    return {
        "kind": kind,
        "segment": name,
        "moved_from": moved_from,
        "title": found.title,
        "about": found.about,
        "as_of": found.as_of,
        "customers": len(found.customers),
        "has_scores": found.has_scores,
        "rows": rows,
        "shown": len(rows),
    }


NO_EXPERIMENTS = (
    "No experiments yet: plan a campaign with a control group, e.g. "
    "`retain campaign --budget 500 --holdout 0.2`."
)


def experiments_page(store: Store) -> dict[str, Any]:
    """Every experiment: arms, exposure, and treatment-vs-control per horizon."""
    if not store.has_table(ASSIGNMENTS_TABLE):
        return {"empty": True, "message": NO_EXPERIMENTS, "experiments": []}
    arms = store.query_df(
        f"SELECT experiment, min(exposed_at) AS exposed, "
        f"count(*) FILTER (WHERE variant = 'treatment') AS treatment, "
        f"count(*) FILTER (WHERE variant = 'control') AS control "
        f"FROM {ASSIGNMENTS_TABLE} GROUP BY 1 ORDER BY 2 DESC"
    )
    has_orders = latest_order_day(store) is not None
    experiments = []
    for row in arms.to_dict("records"):
        results = experiment_report(store, row["experiment"]) if has_orders else []
        experiments.append({**row, "results": results})
    return {"empty": False, "experiments": experiments}


NO_CAMPAIGNS = (
    "No campaign yet: `retain campaign --budget 500 --holdout 0.2` plans one (add --segment "
    "to reach one segment), or POST /v1/campaigns."
)


def campaigns_page(
    store: Store,
    actions: Sequence[Action] = DEFAULT_ACTIONS,
    configured: bool = False,
    require_consent: bool = False,
) -> dict[str, Any]:
    """Every planned campaign, newest first, and what the next one may do.

    ``actions`` are the service's (``[campaign] actions``, else the built-in
    ones): a growth team reads there what each costs and the uplift assumed
    for it until a holdout campaign measures it. ``configured`` says whether
    the shop set them, as ``GET /v1/campaign-actions`` does: a shop that
    wrote out the built-in four has still chosen them. ``require_consent``
    (``[campaign] require_consent``) says whom marketing actions may reach.
    """
    consent = (
        "customers who accepted marketing"
        if require_consent
        else "customers who have not declined marketing"
    )
    offers = [
        {
            "name": a.name,
            "description": a.description,
            "fixed_cost": a.fixed_cost,
            "cost_if_used": a.cost_if_used,
            "max_uplift": a.max_uplift,
            "cooldown_days": a.cooldown_days,
            "family": a.family,
            "only_for": "; ".join(
                need
                for need, flag in (
                    ("a recent complaint", a.needs_complaint),
                    ("a recommendation list", a.needs_picks),
                    (consent, a.marketing),
                )
                if flag
            ),
        }
        for a in actions
    ]
    shown = {"actions": offers, "configured": configured}
    summaries = campaign_summaries(store)
    if summaries.empty:
        return {"empty": True, "message": NO_CAMPAIGNS, "campaigns": [], **shown}
    return {"empty": False, "campaigns": _records(summaries), **shown}


#: Customers listed on a campaign's page; the CSV holds them all.
CAMPAIGN_ROWS_SHOWN = 200


def campaign_page(store: Store, campaign_id: str) -> dict[str, Any] | None:
    """One campaign's customers (the first :data:`CAMPAIGN_ROWS_SHOWN`) with action and reason."""
    rows = campaign_rows(store, campaign_id)
    if rows is None:
        return None
    summaries = campaign_summaries(store)
    (summary,) = _records(summaries[summaries.campaign_id == campaign_id])
    ordered = rows.sort_values(["expected_net_value", "user_id"], ascending=[False, True])
    return {
        "campaign_id": campaign_id,
        "summary": summary,
        "rows": _records(ordered.head(CAMPAIGN_ROWS_SHOWN)),
        "shown": min(len(rows), CAMPAIGN_ROWS_SHOWN),
        "customers": len(rows),
    }


NO_RECOMMENDATIONS = (
    "No recommendations yet: run `retain train recommend` (or `retain run`) to write every "
    "customer's list."
)


def _user_recommendations(store: Store, user_id: str, limit: int) -> list[dict[Hashable, Any]]:
    """A customer's stored list, best first, with item titles when there is a catalogue."""
    has_items = store.has_table("items")
    return store.query_df(
        f"SELECT r.rank, r.item_id, {'i.title' if has_items else 'NULL'} AS title, r.reason, "
        f"r.source FROM recommendations r "
        f"{'LEFT JOIN items i USING (item_id)' if has_items else ''} "
        "WHERE r.user_id = ? ORDER BY r.rank LIMIT ?",
        [user_id, limit],
    ).to_dict("records")


def recommendations_page(store: Store, user_id: str | None = None) -> dict[str, Any]:
    """What the recommender shows a chosen customer, and how the lists look overall."""
    if not store.has_table("recommendations") or store.count("recommendations") == 0:
        return {"empty": True, "message": NO_RECOMMENDATIONS}
    has_items = store.has_table("items")
    stats = store.query_df(
        "SELECT count(DISTINCT user_id) AS users, count(DISTINCT item_id) "
        "FILTER (WHERE rank <= 10) AS items_shown, any_value(model_version) AS version, "
        "max(scored_at) AS scored_at FROM recommendations"
    ).iloc[0]
    catalogue = store.count("items") if has_items else None
    by_source = store.query_df(
        "SELECT source, count(*) AS n FROM recommendations WHERE rank <= 10 "
        "GROUP BY 1 ORDER BY 2 DESC"
    )
    chart = _figure(
        go.Figure(go.Bar(x=by_source.source.tolist(), y=by_source.n.tolist())).update_layout(
            title="Which source put each top-10 item there"
        )
    )
    chosen = fold_email_id(user_id) if user_id else None
    chosen = chosen or str(
        store.query_df("SELECT min(user_id) AS u FROM recommendations").u.iloc[0]
    )
    items = _user_recommendations(store, chosen, 20)
    recent: list[dict[Hashable, Any]] = []
    if store.has_table("events"):
        recent = store.query_df(
            f"SELECT e.ts, e.event_type, e.item_id, {'i.title' if has_items else 'NULL'} AS title "
            f"FROM events e {'LEFT JOIN items i ON i.item_id = e.item_id' if has_items else ''} "
            "WHERE e.user_id = ? AND e.item_id IS NOT NULL ORDER BY e.ts DESC LIMIT 8",
            [chosen],
        ).to_dict("records")
    return {
        "empty": False,
        "users": int(stats.users),
        "items_shown": int(stats.items_shown),
        "catalogue": catalogue,
        "version": stats.version,
        "scored_at": stats.scored_at,
        "chart": chart,
        "user_id": chosen,
        "items": items,
        "recent": recent,
    }


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
        "trend": _figure(trend),
        "aspects_chart": _figure(aspects),
        "by_category": by_category,
        "alerts": alerts,
        "model_note": model_note,
    }
