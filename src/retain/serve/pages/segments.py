"""The segments pages: RFM segments and how customers moved between them, the
learned segments, and one segment's members.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import plotly.graph_objects as go

from retain.data.store import Store
from retain.data.summary import latest_order_day
from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables
from retain.retention.by_orders import ByOrders
from retain.retention.cluster_training import LEARNED_KINDS, LearnedKind, stored_clusters
from retain.retention.members import segment_members
from retain.retention.segments import MOVES_DAYS, NOT_YET, SEGMENTS, count_moves, describe_moves
from retain.serve.pages.common import NO_ORDERS, figure_json, template_rows


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
        "chart": figure_json(chart),
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
        "moves_chart": figure_json(heatmap),
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
    rows = template_rows(found.customers.head(MEMBERS_SHOWN))
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
