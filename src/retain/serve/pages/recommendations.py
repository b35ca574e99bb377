"""The recommendations page: what a chosen customer would be shown, and why."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import plotly.graph_objects as go

from retain.data.store import Store
from retain.data.user_ids import fold_email_id
from retain.serve.pages.common import figure_json

NO_RECOMMENDATIONS = (
    "No recommendations yet: run `retain train recommend` (or `retain run`) to write every "
    "customer's list."
)


def user_recommendations(store: Store, user_id: str, limit: int) -> list[dict[Hashable, Any]]:
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
    chart = figure_json(
        go.Figure(go.Bar(x=by_source.source.tolist(), y=by_source.n.tolist())).update_layout(
            title="Which source put each top-10 item there"
        )
    )
    chosen = fold_email_id(user_id) if user_id else None
    chosen = chosen or str(
        store.query_df("SELECT min(user_id) AS u FROM recommendations").u.iloc[0]
    )
    items = user_recommendations(store, chosen, 20)
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
