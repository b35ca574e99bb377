"""Per-customer features as of a cutoff day, as Ibis expressions.

Every feature reads only records dated on or before the cutoff day, so a
model trained on them cannot peek at the period it predicts; the test suite
proves it by changing everything after the cutoff and comparing. Because the
definitions are Ibis expressions, the same code runs on the embedded DuckDB
store and on a distributed backend (PySpark) when a shop outgrows one machine.

Purchases are counted as *occasions*, one per customer per day, as in the
buy-till-you-die literature: two orders placed the same day are one visit.
Orders whose status is ``cancelled``, ``returned`` or ``refunded`` are not
purchases; they are counted separately as ``returns`` (a strong churn signal)
and never reduce a spend figure below zero. An order that stands with part
of its money given back counts its amount less the refunds made by the
cutoff (:func:`~retain.features.tables.net_orders`).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from retain.data.schemas import NOT_PURCHASES
from retain.features.purchases import purchase_categories
from retain.features.tables import (
    REVIEW_REVISED,
    FeatureTables,
    canonical_table,
    day_after,
    held_at,
    is_purchase,
    net_orders,
)

__all__ = [
    "FEATURE_DESCRIPTIONS",
    "NOT_PURCHASES",
    "FeatureTables",
    "canonical_table",
    "customer_features",
    "day_after",
    "is_purchase",
    "marked_reviews",
    "purchase_occasions",
    "purchase_outcomes",
    "turned_around",
]

#: Feature name → what it measures (time in weeks, money in the shop's currency).
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "x": "repeat purchase occasions (occasions minus the first)",
    "t_x": "weeks from first to last purchase",
    "T": "weeks from first purchase to the cutoff (tenure)",
    "recency": "weeks since the last purchase",
    "monetary_mean": "mean spend per occasion",
    "monetary_repeat_mean": "mean spend per repeat occasion (0 if none)",
    "monetary_total": "total spend",
    "monetary_first": "spend on the first occasion",
    "units_total": "units bought",
    "ipt_mean": "mean weeks between purchases",
    "ipt_std": "standard deviation of weeks between purchases",
    "recent_4w": "purchase occasions in the last 4 weeks",
    "recent_13w": "purchase occasions in the last 13 weeks",
    "trend": "last 13 weeks against the 13 before, from -1 (stopped) to 1 (new)",
    "returns": "orders cancelled, returned or refunded",
    "views": "product views",
    "carts": "add-to-cart events",
    "view_to_cart": "carts per view",
    "cart_to_purchase": "purchase events per cart",
    "event_recency": "weeks since the last event of any kind",
    "events_4w": "events in the last 4 weeks",
    "category_breadth": "distinct categories bought from",
    "reviews": "reviews written",
    "mean_rating": "mean review rating (0 when none)",
    "negative_reviews": "reviews rated 2 or less, labelled negative, or scored negative",
    "support_contacts": "customer-service conversations",
}

_WEEK_DAYS = 7.0

#: Features with no sensible zero: absent means unknown, and models treat it so.
_MISSING_WHEN_ABSENT = frozenset({"event_recency", "mean_rating"})


def _weeks_between(later: ir.DateValue, earlier: ir.DateValue) -> ir.FloatingValue:
    return later.delta(earlier, unit="day").cast("float64") / _WEEK_DAYS


def purchase_occasions(tables: FeatureTables, cutoff: dt.date) -> ir.Table:
    """One row per customer and purchase day up to ``cutoff``: spend (net of partial
    refunds made by then) and units."""
    orders = net_orders(tables, cutoff)
    kept = orders.filter(orders.ts < day_after(cutoff), is_purchase(orders, cutoff))
    return kept.group_by(user_id=kept.user_id, day=kept.ts.date()).aggregate(
        spend=kept.amount.sum(),
        units=kept.num_items.fill_null(1).sum(),
    )


def purchase_outcomes(tables: FeatureTables, after: dt.date, through: dt.date) -> ir.Table:
    """What each customer bought in ``(after, through]``: occasions and spend."""
    window = purchase_occasions(tables, through)
    window = window.filter(window.day > ibis.date(after))
    return window.group_by("user_id").aggregate(
        purchases=window.count().cast("float64"), spend=window.spend.sum()
    )


def customer_features(tables: FeatureTables, cutoff: dt.date) -> ir.Table:
    """One row per customer with a purchase on or before ``cutoff``.

    Columns are those of :data:`FEATURE_DESCRIPTIONS` plus ``user_id`` and
    ``first_day``. Only records dated on or before ``cutoff`` are read.
    """
    end = ibis.date(cutoff)
    occasions = purchase_occasions(tables, cutoff)
    ordered = ibis.window(group_by="user_id", order_by="day")
    occasions = occasions.mutate(
        gap=_weeks_between(occasions.day, occasions.day.lag().over(ordered)),
        rank=ibis.row_number().over(ordered),  # 0 for the first occasion
        weeks_ago=_weeks_between(end, occasions.day),
    )
    recent_13 = occasions.weeks_ago < 13
    previous_13 = (occasions.weeks_ago >= 13) & (occasions.weeks_ago < 26)
    base = occasions.group_by("user_id").aggregate(
        occasions=occasions.count(),
        first_day=occasions.day.min(),
        last_day=occasions.day.max(),
        monetary_total=occasions.spend.sum(),
        monetary_mean=occasions.spend.mean(),
        monetary_first=occasions.spend.argmin(occasions.rank),
        repeat_spend=occasions.spend.sum(where=occasions.rank > 0),
        units_total=occasions.units.sum().cast("float64"),
        ipt_mean=occasions.gap.mean(),
        ipt_std=occasions.gap.std(),
        recent_4w=occasions.count(where=occasions.weeks_ago < 4),
        recent_13w=occasions.count(where=recent_13),
        previous_13w=occasions.count(where=previous_13),
    )
    x = (base.occasions - 1).cast("float64")
    features = base.mutate(
        x=x,
        t_x=_weeks_between(base.last_day, base.first_day),
        T=_weeks_between(end, base.first_day),
        recency=_weeks_between(end, base.last_day),
        monetary_repeat_mean=ibis.ifelse(x > 0, base.repeat_spend / x, 0.0),
        ipt_mean=base.ipt_mean.fill_null(0.0),
        ipt_std=base.ipt_std.fill_null(0.0),
        trend=(base.recent_13w - base.previous_13w).cast("float64")
        / (base.recent_13w + base.previous_13w + 1).cast("float64"),
    ).drop("occasions", "last_day", "repeat_spend", "previous_13w")
    for extra in (
        _return_features(tables.orders, cutoff),
        _event_features(tables, cutoff),
        _breadth_features(tables, cutoff),
        _review_features(tables, cutoff),
        _support_features(tables.conversations, cutoff),
    ):
        if extra is None:
            continue
        joined = features.left_join(extra, "user_id")
        features = joined.drop("user_id_right").mutate(
            **{name: _filled(joined[name], name) for name in extra.columns[1:]}
        )
    missing = {
        name: _filled(ibis.literal(None, type="float64"), name)
        for name in FEATURE_DESCRIPTIONS
        if name not in features.columns
    }
    columns = ["user_id", "first_day", *FEATURE_DESCRIPTIONS]
    return features.mutate(**missing).select(*columns).order_by("user_id")


def _filled(column: ir.Value, name: str) -> ir.FloatingValue:
    """Counts are 0 when a customer has no record; averages stay missing (NULL)."""
    value = column.cast("float64")
    return value if name in _MISSING_WHEN_ABSENT else value.fill_null(0.0)


def _return_features(orders: ir.Table, cutoff: dt.date) -> ir.Table:
    gone = orders.filter(orders.ts < day_after(cutoff), ~is_purchase(orders, cutoff))
    return gone.group_by("user_id").aggregate(returns=gone.count())


def _event_features(tables: FeatureTables, cutoff: dt.date) -> ir.Table | None:
    events = tables.events
    if events is None:
        return None
    end = ibis.date(cutoff)
    seen = events.filter(events.ts < day_after(cutoff))
    weeks_ago = _weeks_between(end, seen.ts.date())
    kind = seen.event_type
    funnel = seen.group_by("user_id").aggregate(
        views=seen.count(where=kind.isin(("view", "click"))),
        carts=seen.count(where=kind == "cart"),
        purchase_events=seen.count(where=kind == "purchase"),
        event_recency=weeks_ago.min(),
        events_4w=seen.count(where=weeks_ago < 4),
    )
    funnel = funnel.mutate(
        view_to_cart=funnel.carts.cast("float64") / ibis.greatest(funnel.views, 1),
        cart_to_purchase=funnel.purchase_events.cast("float64") / ibis.greatest(funnel.carts, 1),
    ).drop("purchase_events")
    return funnel


def _breadth_features(tables: FeatureTables, cutoff: dt.date) -> ir.Table | None:
    """Distinct categories bought from, read from the purchases every capability
    shares (purchase events, or the item lines of orders when there are none)."""
    bought = purchase_categories(tables, cutoff)
    if bought is None:
        return None
    return bought.group_by("user_id").aggregate(category_breadth=bought.category.nunique())


def marked_reviews(tables: FeatureTables, as_of: dt.date | None = None) -> ir.Table | None:
    """The reviews with ``negative``: did the customer say they were unhappy?

    Any one sign is enough: a rating of 2 or less, a person's label 0, or
    the sentiment model's verdict 0 (``review_scores``), so a three-star
    review that complains in words counts, and so does a review with no
    rating at all. Churn features and campaign complaints both read this,
    so they agree on what a bad review is. The verdicts come from a model
    trained on the shop's rated reviews; each reads only its own review's
    text, which is known on the day it was written.

    ``as_of`` reads each review as it stood at the end of that day: one its
    writer edited later (``edited_ts`` after the day) shows the version that
    held then, from ``review_versions``, with the verdict the model gave that
    version. So an edit after a cutoff cannot change a feature computed at
    it, and a one-star review made five stars counts as a complaint only
    until the edit.
    """
    reviews = tables.reviews
    if reviews is None:
        return None
    if tables.review_scores is None:
        reviews = reviews.mutate(verdict=ibis.null("int64"))
    else:
        verdicts = tables.review_scores.select(verdict_id="review_id", verdict="label")
        joined = reviews.left_join(verdicts, reviews.review_id == verdicts.verdict_id)
        reviews = joined.drop("verdict_id")
    if as_of is not None and tables.review_versions is not None:
        reviews = _as_edited_by(reviews, tables.review_versions, day_after(as_of))
    return reviews.mutate(negative=_said_unhappy(reviews)).drop("verdict")


def _said_unhappy(reviews: ir.Table) -> ir.BooleanColumn:
    """A rating of 2 or less, a person's label 0, or the model's verdict 0."""
    return (
        (reviews.rating <= 2).fill_null(False)
        | (reviews.label == 0).fill_null(False)
        | (reviews.verdict == 0).fill_null(False)
    )


def turned_around(tables: FeatureTables) -> ir.Table | None:
    """Reviews their writers edited from unhappy to not: the version replaced last
    said they were unhappy (by :func:`marked_reviews`' rule, with the verdict the
    model gave it), and the review as it reads now does not. The evidence that
    answering a complaint won the customer back.

    Columns: ``review_id``, ``user_id``, ``item_id``, ``edited_ts``,
    ``rating_before``, ``rating``, ``text``; None without edits to read.
    """
    versions = tables.review_versions
    now = marked_reviews(tables)
    if versions is None or now is None:
        return None
    last = versions.mutate(
        latest=ibis.row_number().over(group_by="review_id", order_by=ibis.desc("valid_to"))
    )
    last = last.filter(last.latest == 0)
    before = last.filter(_said_unhappy(last)).select("review_id", rating_before="rating")
    now = now.filter(~now.negative)
    joined = now.join(before, "review_id")
    return joined.select(
        "review_id", "user_id", "item_id", "edited_ts", "rating_before", "rating", "text"
    )


def _as_edited_by(reviews: ir.Table, versions: ir.Table, moment: ir.TimestampScalar) -> ir.Table:
    """``reviews`` (with ``verdict``) as they stood just before ``moment``: a review
    edited since takes the replaced version that held then."""
    revised = (*REVIEW_REVISED, "verdict")
    current = reviews.filter(reviews.edited_ts.isnull() | (reviews.edited_ts < moment))
    later = reviews.filter(reviews.edited_ts >= moment).drop(*revised)
    held = held_at(versions, moment).select("review_id", *revised)
    then = later.join(held, "review_id").select(*current.columns)
    return current.union(then)


def _review_features(tables: FeatureTables, cutoff: dt.date) -> ir.Table | None:
    reviews = marked_reviews(tables, cutoff)
    if reviews is None:
        return None
    mine = reviews.filter(reviews.user_id.notnull(), reviews.ts < day_after(cutoff))
    return mine.group_by("user_id").aggregate(
        reviews=mine.count(),
        mean_rating=mine.rating.mean(),
        negative_reviews=mine.count(where=mine.negative),
    )


def _support_features(conversations: ir.Table | None, cutoff: dt.date) -> ir.Table | None:
    if conversations is None:
        return None
    mine = conversations.filter(
        conversations.user_id.notnull(), conversations.ts < day_after(cutoff)
    )
    return mine.group_by("user_id").aggregate(support_contacts=mine.conversation_id.nunique())
