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
and never reduce a spend figure below zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
from ibis.backends import BaseBackend

from retain.data.schemas import NOT_PURCHASES, SCHEMAS
from retain.data.store import Store
from retain.errors import InvalidInputError

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


_IBIS_TYPES = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "DOUBLE": "float64",
    "BIGINT": "int64",
    "BOOLEAN": "boolean",
}

Runner = Callable[[ir.Expr], pa.Table]


def with_new_fields(table: ir.Table, name: str) -> ir.Table:
    """``table`` with the canonical fields of ``name`` it lacks, empty: a table an
    older Retain wrote reads as if written now."""
    missing = {
        f.name: ibis.null(_IBIS_TYPES[f.sql_type])
        for f in SCHEMAS[name].fields
        if f.name not in table.columns
    }
    return table.mutate(**missing) if missing else table


def canonical_table(name: str, stored: Collection[str] | None = None) -> ir.Table:
    """An unbound Ibis table with the canonical schema of ``name``.

    ``stored`` names the columns the stored table has, when it may be one an
    older Retain wrote, opened read-only and so not yet given the fields
    added since: those read as empty.
    """
    types = {f.name: _IBIS_TYPES[f.sql_type] for f in SCHEMAS[name].fields}
    if stored is None:
        return ibis.table(types, name=name)
    table = ibis.table({n: t for n, t in types.items() if n in stored}, name=name)
    return with_new_fields(table, name).select(*types)


@dataclass(frozen=True)
class FeatureTables:
    """The canonical tables features read, and how to run an expression over them.

    Only ``orders`` is required; a missing source yields zeros (or NULL for
    averages) for its features.

    :meth:`from_store` reads the embedded store: expressions are compiled to
    DuckDB SQL and run on the store's own connection (no second engine).
    :meth:`from_backend` runs the same expressions on another Ibis backend;
    the test suite checks that PySpark gives the same features as DuckDB.
    """

    orders: ir.Table
    runner: Runner
    events: ir.Table | None = None
    items: ir.Table | None = None
    reviews: ir.Table | None = None
    conversations: ir.Table | None = None
    users: ir.Table | None = None
    #: The sentiment model's verdicts (``review_scores``), when it has run.
    review_scores: ir.Table | None = None
    #: The Ibis backend expressions run on (``duckdb`` for the store), for the
    #: rare expression that must be written differently for one engine.
    engine: str = "duckdb"
    #: Stored learned segments (:data:`LEARNED_OUTPUTS`) that exist, by table
    #: name: the cohort views can be split by them.
    learned: Mapping[str, ir.Table] = field(default_factory=dict)

    def fetch(self, expr: ir.Table) -> pd.DataFrame:
        """Run ``expr`` and return the result as a pandas frame."""
        frame: pd.DataFrame = self.runner(expr).to_pandas()
        return frame

    @classmethod
    def from_store(cls, store: Store) -> FeatureTables:
        def run(expr: ir.Expr) -> pa.Table:
            return store.query_arrow(str(ibis.to_sql(expr, dialect="duckdb")))

        present = store.table_names()  # one query for the optional outputs below
        tables = {name: canonical_table(name, store.columns(name) or None) for name in _SOURCES}
        if REVIEW_VERDICTS in present:
            tables[REVIEW_VERDICTS] = ibis.table(_VERDICT_SCHEMA, name=REVIEW_VERDICTS)
        learned = {
            name: ibis.table(schema, name=name)
            for name, schema in LEARNED_OUTPUTS.items()
            if name in present
        }
        return cls(runner=run, learned=learned, **tables)

    @classmethod
    def from_backend(cls, backend: BaseBackend) -> FeatureTables:
        """The canonical tables of any Ibis backend, e.g. PySpark when a shop outgrows DuckDB.

        The backend must hold tables named like the store's (at least
        ``orders``); expressions run there, where the data live.
        """
        present = set(backend.list_tables())
        if "orders" not in present:
            raise InvalidInputError(
                f"the backend has no orders table; it has: {', '.join(sorted(present)) or 'none'}"
            )
        names = (*_SOURCES, REVIEW_VERDICTS)
        tables = {name: backend.table(name) for name in names if name in present}
        for name in set(tables) & set(_SOURCES):
            tables[name] = with_new_fields(tables[name], name)
        learned = {name: backend.table(name) for name in LEARNED_OUTPUTS if name in present}
        return cls(runner=backend.to_pyarrow, engine=backend.name, learned=learned, **tables)


_SOURCES = ("orders", "events", "items", "reviews", "conversations", "users")
#: The output table of ``retain train sentiment`` that features read, and the columns read.
REVIEW_VERDICTS = "review_scores"
_VERDICT_SCHEMA = {"review_id": "string", "label": "int64"}
#: The tables ``retain train segments`` writes (see
#: :mod:`retain.retention.cluster_training`), with the columns read from them.
_MEMBERS_SCHEMA = {"user_id": "string", "cluster": "int64"}
_DESCRIBED_SCHEMA = {"cluster": "int64", "description": "string"}
LEARNED_OUTPUTS = {
    "customer_clusters": _MEMBERS_SCHEMA,
    "segment_clusters": _DESCRIBED_SCHEMA,
    "customer_tastes": _MEMBERS_SCHEMA,
    "taste_clusters": _DESCRIBED_SCHEMA,
}


def day_after(cutoff: dt.date) -> ir.TimestampScalar:
    """The first moment after ``cutoff``: records with ``ts`` before it are on or before it."""
    moment = dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time())
    return ibis.timestamp(moment)


def _weeks_between(later: ir.DateValue, earlier: ir.DateValue) -> ir.FloatingValue:
    return later.delta(earlier, unit="day").cast("float64") / _WEEK_DAYS


def is_purchase(orders: ir.Table, as_of: dt.date | None = None) -> ir.BooleanValue:
    """True for an order that is a purchase: no status, or one not in
    :data:`NOT_PURCHASES` (the Ibis twin of :func:`retain.data.schemas.purchase_sql`).

    ``as_of`` reads the order as it stood at the end of that day: one that was
    cancelled, returned or refunded later (``status_ts`` after the day) was
    still a purchase then, so a return after a cutoff cannot change a feature
    computed at it. A status with no ``status_ts`` holds from the order's time.
    """
    bought = orders.status.isnull() | ~orders.status.isin(NOT_PURCHASES)
    if as_of is None:
        return bought
    return bought | (orders.status_ts >= day_after(as_of)).fill_null(False)


def purchase_occasions(orders: ir.Table, cutoff: dt.date) -> ir.Table:
    """One row per customer and purchase day up to ``cutoff``: spend and units."""
    kept = orders.filter(orders.ts < day_after(cutoff), is_purchase(orders, cutoff))
    return kept.group_by(user_id=kept.user_id, day=kept.ts.date()).aggregate(
        spend=kept.amount.sum(),
        units=kept.num_items.fill_null(1).sum(),
    )


def purchase_outcomes(orders: ir.Table, after: dt.date, through: dt.date) -> ir.Table:
    """What each customer bought in ``(after, through]``: occasions and spend."""
    window = purchase_occasions(orders, through)
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
    occasions = purchase_occasions(tables.orders, cutoff)
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
    if tables.items is None:
        return funnel
    items = tables.items
    bought = seen.filter(kind == "purchase").join(items, seen.item_id == items.item_id)
    breadth = bought.group_by(bought.user_id).aggregate(category_breadth=bought.category.nunique())
    joined = funnel.left_join(breadth, "user_id")
    return joined.drop("user_id_right")


def marked_reviews(tables: FeatureTables) -> ir.Table | None:
    """The reviews with ``negative``: did the customer say they were unhappy?

    Any one sign is enough: a rating of 2 or less, a person's label 0, or
    the sentiment model's verdict 0 (``review_scores``), so a three-star
    review that complains in words counts, and so does a review with no
    rating at all. Churn features and campaign complaints both read this,
    so they agree on what a bad review is. The verdicts come from a model
    trained on the shop's rated reviews; each reads only its own review's
    text, which is known on the day it was written.
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
    negative = (
        (reviews.rating <= 2).fill_null(False)
        | (reviews.label == 0).fill_null(False)
        | (reviews.verdict == 0).fill_null(False)
    )
    return reviews.mutate(negative=negative).drop("verdict")


def _review_features(tables: FeatureTables, cutoff: dt.date) -> ir.Table | None:
    reviews = marked_reviews(tables)
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
