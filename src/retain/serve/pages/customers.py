"""The at-risk list and one customer's page: scores, reasons, segments, consent,
campaigns and orders.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from retain.data.consent import consent_history, stored_consent
from retain.data.schemas import stored_or_null
from retain.data.store import Store
from retain.data.summary import buyers_since, latest_order_day
from retain.data.user_ids import fold_email_id
from retain.features.customer import FeatureTables
from retain.retention.by_orders import ByOrders
from retain.retention.campaign import customer_campaigns
from retain.retention.cluster_training import (
    BEHAVIOUR,
    TASTE,
    LearnedKind,
    stored_cluster_of,
    stored_clusters,
)
from retain.retention.clusters import Cluster
from retain.retention.policy import value_if_retained
from retain.retention.segments import MOVES_DAYS, NOT_YET
from retain.serve.pages.common import NO_SCORES, stored_scores, template_rows
from retain.serve.pages.recommendations import user_recommendations


def at_risk_page(store: Store, limit: int = 50) -> dict[str, Any]:
    """Customers still reachable but likely to leave, most value at stake first.

    "Reachable": BG/NBD still gives them at least a 20% chance of being an
    active customer (the long-gone are a different list). Value at stake is
    churn risk times what they would spend if they stay.
    """
    scores = stored_scores(store)
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
    # A store an older Retain wrote, opened read-only, lacks the fields added since.
    stored = store.table_columns()  # one metadata query for the page
    since = "strftime(status_ts, '%Y-%m-%d')" if "status_ts" in stored["orders"] else "NULL"
    refunded = stored_or_null(stored["orders"], "refunded_amount")
    orders = store.query_df(
        f"SELECT order_id, ts, amount, status, {since} AS status_since, "
        f"{refunded} AS refunded FROM orders "
        "WHERE user_id = ? ORDER BY ts DESC",
        [user_id],
    )
    contacts = store.query_df(
        "SELECT conversation_id, min(ts) AS ts, string_agg(text, ' / ' ORDER BY turn) AS text "
        "FROM conversations WHERE user_id = ? GROUP BY conversation_id ORDER BY ts DESC",
        [user_id],
    )
    edits = "edited_ts" in stored["reviews"] and "review_versions" in stored
    reviews = _customer_reviews(store, user_id, edits)
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
        user_recommendations(store, user_id, 10) if store.has_table("recommendations") else []
    )
    return {
        "user_id": user_id,
        "score": score,
        "segments": _customer_segments(store, user_id) if len(orders) else None,
        "campaigns": template_rows(customer_campaigns(store, user_id)),
        "marketing_consent": stored_consent(store, user_id),
        "consent_change": next(iter(consent_history(store, user_id, limit=1)), None),
        "recommended": recommended,
        "orders": template_rows(orders),
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


def _customer_reviews(store: Store, user_id: str, edits: bool) -> pd.DataFrame:
    """A customer's reviews, newest first, each as it reads now; ``edited`` says
    when its writer last changed it and the rating it had before, if any (with
    ``edits``: the store keeps edits)."""
    if not edits:
        found = store.query_df(
            "SELECT ts, rating, text FROM reviews WHERE user_id = ? ORDER BY ts DESC", [user_id]
        )
        return found.assign(edited=None)
    found = store.query_df(
        "SELECT r.ts, r.rating, r.text, r.edited_ts, (SELECT v.rating FROM review_versions v "
        "WHERE v.review_id = r.review_id ORDER BY v.version DESC LIMIT 1) AS rating_before "
        "FROM reviews r WHERE r.user_id = ? ORDER BY r.ts DESC",
        [user_id],
    )
    found["edited"] = [
        None
        if pd.isna(when)
        else f"edited {when:%Y-%m-%d}" + ("" if pd.isna(before) else f", rated {before:g} before")
        for when, before in zip(found.edited_ts, found.rating_before, strict=True)
    ]
    return found.drop(columns=["edited_ts", "rating_before"])
