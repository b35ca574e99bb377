"""Cohorts, retention curves, active users and revenue curves, as Ibis expressions.

A customer's *cohort* is the week or month of their first purchase; they are
*retained* in period ``k`` of their cohort when they buy in it. Purchases are
the occasions of :func:`retain.features.purchase_occasions` (one per customer
and day, cancelled and returned orders excluded), so every capability agrees
on what a purchase is. Only periods that have started by ``as_of`` appear,
and a period still running at ``as_of`` is flagged ``complete = False``
rather than shown as a drop.

Every view can be split by *segment*: :func:`customer_segments` labels each
customer (their RFM segment, or an attribute from the ``users`` table such
as the acquisition channel), and the cohort matrix then holds one set of
cohorts per segment, so a growth team sees whose customers come back and
what they are worth over time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables, day_after, purchase_occasions
from retain.features.purchases import categorised_purchases
from retain.retention.cluster_training import LEARNED_KINDS, LearnedKind
from retain.retention.segments import rfm_segments

__all__ = [
    "Period",
    "active_users",
    "attribute_names",
    "cohort_heatmap",
    "cohort_retention",
    "customer_segments",
    "repeat_purchase_rate",
    "retention_curve",
    "revenue_curve",
    "segment_matrix",
    "split_caveat",
    "thin_tail_note",
]

Period = Literal["week", "month"]
_TRUNCATE = {"week": "W", "month": "M"}
#: ``customer_segments`` split: each customer's RFM segment as of the day.
BY_RFM = "rfm"
#: ``customer_segments`` split: the category of the first item each customer bought.
BY_FIRST_CATEGORY = "first_category"
#: The label of customers a split has no value for (no such attribute, no profile).
NOT_SET = "not set"
#: Attribute names a split accepts. The name becomes a JSON path in the query,
#: so quotes, dots and ``$`` never reach it.
_ATTRIBUTE_NAME = re.compile(r"[\w-]{1,64}")


def _period_start(day: ir.DateValue, period: Period) -> ir.DateValue:
    return day.truncate(_TRUNCATE[period])


def _periods_between(later: ir.DateValue, earlier: ir.DateValue, period: Period) -> ir.IntegerValue:
    if period == "week":
        return later.delta(earlier, unit="day") // 7
    return later.delta(earlier, unit="month")


def _cohort_activity(
    tables: FeatureTables, as_of: dt.date, period: Period, segments: ir.Table | None
) -> ir.Table:
    """Per customer and period index: spend in that period of their cohort (and their segment)."""
    occasions = purchase_occasions(tables, as_of)
    firsts = occasions.group_by("user_id").aggregate(first_day=occasions.day.min())
    joined = occasions.join(firsts, "user_id")
    cohort = _period_start(joined.first_day, period)
    with_index = joined.mutate(
        cohort=cohort,
        period_index=_periods_between(_period_start(joined.day, period), cohort, period),
    )
    keys = ["cohort", "user_id", "period_index"]
    if segments is not None:
        labels = segments.select(label_user="user_id", label=segments.segment.cast("string"))
        with_index = with_index.left_join(labels, with_index.user_id == labels.label_user)
        with_index = with_index.mutate(segment=with_index.label.fill_null(NOT_SET))
        keys.insert(0, "segment")
    return with_index.group_by(keys).aggregate(spend=with_index.spend.sum())


def cohort_retention(
    tables: FeatureTables,
    as_of: dt.date,
    period: Period = "month",
    segments: ir.Table | None = None,
) -> ir.Table:
    """The cohort matrix: one row per cohort and period index.

    Columns: ``cohort`` (period start), ``period_index`` (0 = the first
    period), ``cohort_size``, ``active`` (customers who bought in that period),
    ``retention`` (``active / cohort_size``), ``revenue``, ``complete`` (the
    period has ended by ``as_of``) and ``complete_periods`` (how many of the
    cohort's periods have ended). Periods in which nobody bought have no row;
    :func:`cohort_heatmap` fills them with zeros.

    With ``segments`` (``user_id`` and ``segment`` per customer, e.g. from
    :func:`customer_segments`) every row also has a ``segment`` and cohorts
    are counted within it; customers without a label are :data:`NOT_SET`.
    """
    activity = _cohort_activity(tables, as_of, period, segments)
    keys = ["cohort"] if segments is None else ["segment", "cohort"]
    sizes = (
        activity.filter(activity.period_index == 0)
        .group_by(keys)
        .aggregate(cohort_size=ibis._.user_id.nunique())
    )
    counts = activity.group_by([*keys, "period_index"]).aggregate(
        active=activity.user_id.nunique(), revenue=activity.spend.sum()
    )
    matrix = counts.join(sizes, keys)
    end = _period_start(ibis.date(as_of), period)
    last_index = _periods_between(end, matrix.cohort, period)
    return matrix.mutate(
        retention=matrix.active.cast("float64") / matrix.cohort_size,
        complete=matrix.period_index < last_index,
        complete_periods=last_index,
    ).order_by([*keys, "period_index"])


def customer_segments(tables: FeatureTables, as_of: dt.date, by: str) -> ir.Table:
    """``user_id`` and ``segment`` for every customer, to split the cohort views by.

    ``by`` is :data:`BY_RFM` (the RFM segment as of ``as_of``: today's
    segment, so its curves show how each segment's customers got there, not
    a forecast), :data:`BY_FIRST_CATEGORY` (the category of the first item
    they bought, from purchase events: which first purchase makes loyal
    customers) or the name of an attribute in the ``users`` table's
    ``attributes`` (``channel``, ``country``, ...; fixed at sign-up, so its
    curves compare like with like). Customers without the attribute are
    :data:`NOT_SET` in the matrix; :func:`attribute_names` lists what exists.
    """
    if by == BY_RFM:
        return rfm_segments(tables, as_of).select("user_id", "segment")
    if by == BY_FIRST_CATEGORY:
        return _first_categories(tables, as_of)
    if by in LEARNED_KINDS:
        return _learned_segments(tables, LEARNED_KINDS[by])
    if not _ATTRIBUTE_NAME.fullmatch(by):
        raise InvalidInputError(
            f"cannot split by {by!r}: name 'rfm' or a customer attribute made of letters, "
            "digits, '_' and '-' (at most 64)"
        )
    if tables.users is None:
        raise InvalidInputError(
            f"cannot split by {by!r}: there is no users table with customer attributes"
        )
    users = tables.users
    return users.select("user_id", segment=_attribute(users, by, spark=tables.engine == "pyspark"))


@ibis.udf.scalar.builtin(name="get_json_object")  # type: ignore[untyped-decorator]
def _spark_json_text(doc: str, path: str) -> str:  # type: ignore[empty-body]
    """Spark SQL's own JSON lookup: a string value as is, any other value as JSON text."""


def _attribute(users: ir.Table, name: str, *, spark: bool) -> ir.StringValue:
    """The ``name`` attribute of each profile's JSON ``attributes`` as text (NULL when absent).

    On Spark, Ibis reads JSON with a Python UDF, which needs Python on every
    worker (and failed to load on a local one); Spark's native
    ``get_json_object`` does the same lookup inside the engine. ``name`` has
    passed :data:`_ATTRIBUTE_NAME`, so it cannot break out of the path.
    """
    if spark:
        return _spark_json_text(users.attributes, f"$.{name}")
    value = users.attributes.cast("json")[name]
    return value.str.fill_null(value.cast("string"))


def segment_matrix(
    tables: FeatureTables, as_of: dt.date, by: str, period: Period = "month"
) -> pd.DataFrame:
    """The cohort matrix split by ``by`` (see :func:`customer_segments`), fetched.

    Raises:
        InvalidInputError: ``by`` names an attribute no customer has, with the
            attributes that exist, rather than one curve labelled "not set".
    """
    matrix = tables.fetch(
        cohort_retention(tables, as_of, period, customer_segments(tables, as_of, by))
    )
    if by != BY_RFM and len(matrix) and (matrix.segment == NOT_SET).all():
        if by in LEARNED_KINDS:
            raise InvalidInputError(
                f"no customer with orders is in a stored {LEARNED_KINDS[by].title}; "
                "run `retain train segments` again"
            )
        if by == BY_FIRST_CATEGORY:
            raise InvalidInputError(
                "no customer has bought an item with a category (a purchase event, or an "
                "order that lists its items); splitting by first_category needs both"
            )
        known = ", ".join(attribute_names(tables)) or "none (no customer profile has attributes)"
        raise InvalidInputError(
            f"no customer has an attribute {by!r}; split by {BY_RFM!r}, "
            f"{BY_FIRST_CATEGORY!r} or an attribute: {known}"
        )
    return matrix


def split_caveat(by: str) -> str:
    """What a reader of the curves split by ``by`` should keep in mind, in one sentence."""
    if by == BY_RFM:
        return (
            "RFM segments are today's: the curves show how each segment's customers got "
            "there, not a forecast."
        )
    if by == BY_FIRST_CATEGORY:
        return f"Customers who bought no item with a category are '{NOT_SET}'."
    if by in LEARNED_KINDS:
        return (
            f"{LEARNED_KINDS[by].title.capitalize()}s are today's, as stored by the last "
            f"`retain train segments`; customers who joined since are '{NOT_SET}'."
        )
    return f"Customers without a {by!r} attribute are '{NOT_SET}'."


def _learned_segments(tables: FeatureTables, kind: LearnedKind) -> ir.Table:
    """Each customer's stored learned segment, named by number and what sets it apart.

    "3: buy snacks more than most": the description stops before its
    figures in brackets, so a chart's legend stays short.
    """
    members = tables.learned.get(kind.customers_table)
    described = tables.learned.get(kind.segments_table)
    if members is None or described is None:
        raise InvalidInputError(f"no {kind.title}s are stored yet: run `retain train segments`")
    joined = members.join(described, "cluster")
    short = joined.description.re_extract(r"^([^(]*[^ (])", 1)
    return joined.select("user_id", segment=joined.cluster.cast("string").concat(": ", short))


def _first_categories(tables: FeatureTables, as_of: dt.date) -> ir.Table:
    """Per customer, the category of their first purchased item (earliest purchase, then
    item id), from purchase events or the orders' item lists (:func:`categorised_purchases`)."""
    joined = categorised_purchases(tables, as_of, "splitting by first_category")
    first = ibis.row_number().over(group_by=joined.user_id, order_by=[joined.ts, joined.item_id])
    ranked = joined.mutate(first=first)
    return ranked.filter(ranked.first == 0).select("user_id", segment=ranked.category)


def attribute_names(tables: FeatureTables, sample: int = 1000) -> list[str]:
    """The attribute names a split accepts, from the first ``sample`` customer profiles, sorted."""
    if tables.users is None:
        return []
    users = tables.users
    rows = tables.fetch(users.filter(users.attributes.notnull()).select("attributes").limit(sample))
    names: set[str] = set()
    for text in rows.attributes:
        try:
            parsed = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(parsed, dict):
            names.update(k for k in parsed if _ATTRIBUTE_NAME.fullmatch(k))
    return sorted(names)


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


#: A point of an all-cohorts curve resting on fewer cohorts than this is one cohort's story.
FEW_COHORTS = 3


def thin_tail_note(curve: pd.DataFrame, matrix: pd.DataFrame, period: str) -> str | None:
    """Why the far end of an all-cohorts curve may jump: it rests on the oldest cohorts alone.

    Each point averages only the cohorts that have lived through it, so the
    last points are the oldest cohort's, and the oldest cohort is the data's
    first period: when the data starts after the shop did (the UCI Online
    Retail year starts in December 2010), it holds every established
    customer who bought that month, and the curve climbs at its end (23% of
    customers buying again in their second month, 50% in their twelfth).
    """
    thin = curve[curve.cohorts < FEW_COHORTS]
    if thin.empty or len(thin) == len(curve):
        return None
    oldest = matrix.cohort.min()
    size = int(matrix[(matrix.cohort == oldest) & (matrix.period_index == 0)].cohort_size.sum())
    last = int(curve.period_index.max())
    return (
        f"Each point averages the cohorts that have lived through it, so from "
        f"+{int(thin.period_index.min())} {period}s on it rests on fewer than {FEW_COHORTS}, "
        f"and +{last} is the oldest cohort alone ({pd.Timestamp(oldest):%Y-%m-%d}, "
        f"{size:,} customers). That cohort is the data's first {period}: it may hold "
        "customers who had bought before the data begins, which lifts the end of the curve."
    )


def retention_curve(matrix: pd.DataFrame) -> pd.DataFrame:
    """Share of customers retained ``k`` periods after their first, over all cohorts.

    Each point averages only the cohorts old enough to have lived through
    period ``k`` completely, weighted by cohort size, so young cohorts do not
    drag the tail down. ``revenue_per_customer`` is the LTV curve built the
    same way: each period adds the spend per customer of the cohorts that
    have lived through it, so the curve never falls even though the oldest
    cohorts alone reach the far end. ``cohorts`` says how many cohorts a
    point rests on.
    A matrix split by segment gives one curve per segment (a ``segment``
    column first).
    """
    columns = ["period_index", "retention", "revenue_per_customer", "customers", "cohorts"]
    if "segment" in matrix.columns:
        if matrix.empty:
            return pd.DataFrame(columns=["segment", *columns])
        curves = [
            _curve(part).assign(segment=name) for name, part in matrix.groupby("segment", sort=True)
        ]
        return pd.concat(curves, ignore_index=True)[["segment", *columns]]
    if matrix.empty:
        return pd.DataFrame(columns=columns)
    return _curve(matrix)


def _curve(matrix: pd.DataFrame) -> pd.DataFrame:
    sizes = matrix.groupby("cohort").cohort_size.first()
    complete = matrix.groupby("cohort").complete_periods.first()
    rows = []
    lifetime_value = 0.0
    # Up to the oldest cohort's last complete period, even where nobody bought any more.
    for k in range(int(max(matrix.period_index.max(), complete.max())) + 1):
        eligible = sizes.index if k == 0 else complete[complete > k].index
        if len(eligible) == 0:
            break
        at_k = matrix[(matrix.period_index == k) & matrix.cohort.isin(eligible)]
        customers = int(sizes.loc[eligible].sum())
        lifetime_value += float(at_k.revenue.sum()) / customers
        rows.append(
            (k, float(at_k.active.sum()) / customers, lifetime_value, customers, len(eligible))
        )
    return pd.DataFrame(
        rows, columns=["period_index", "retention", "revenue_per_customer", "customers", "cohorts"]
    )


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
    occasions = purchase_occasions(tables, as_of)
    per = occasions.group_by("user_id").aggregate(days=occasions.count())
    return per.aggregate(
        customers=per.count(),
        repeat_customers=per.count(where=per.days >= 2),
    ).mutate(rate=ibis._.repeat_customers.cast("float64") / ibis.greatest(ibis._.customers, 1))


def active_users(
    tables: FeatureTables, as_of: dt.date, period: Literal["day", "week", "month"] = "day"
) -> ir.Table:
    """Distinct users with any event or purchase per day, week or month, up to ``as_of``."""
    end = day_after(as_of)
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
