"""RFM segments with the names marketers use.

Recency (days since the last purchase) and frequency (purchase days) are
scored 1-5 by percentile among the shop's customers — 5 is best: most recent,
most frequent — and the pair of scores picks the segment from the widely
used RFM grid (champions, loyal customers, at risk, hibernating, ...).
Monetary value is scored too and reported, but, as in that grid, it does
not change the name: frequency and recency already say who is slipping.
Scores are Ibis window expressions, so they run wherever the features do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from retain.features.customer import FeatureTables, purchase_occasions

__all__ = [
    "LAPSING",
    "MOVES_CAVEAT",
    "MOVES_DAYS",
    "NOT_YET",
    "SEGMENTS",
    "MoveCounts",
    "Segment",
    "count_moves",
    "describe_moves",
    "rfm_segments",
    "segment_moves",
]


@dataclass(frozen=True)
class Segment:
    """A named cell group of the RFM grid and what sets it apart."""

    name: str
    description: str
    action: str
    recency: tuple[int, ...]
    frequency: tuple[int, ...]


SEGMENTS: tuple[Segment, ...] = (
    Segment("champions", "bought recently and buy often", "reward; ask for reviews",
            (5,), (4, 5)),
    Segment("loyal customers", "buy often, fairly recently", "upsell; loyalty programme",
            (3, 4), (4, 5)),
    Segment("potential loyalists", "recent customers with a few purchases",
            "membership or recommendations", (4, 5), (2, 3)),
    Segment("new customers", "first purchase very recently", "onboarding; second-order nudge",
            (5,), (1,)),
    Segment("promising", "recent first-time buyers", "build the habit: relevant picks",
            (4,), (1,)),
    Segment("need attention", "middling recency and frequency", "limited-time offer",
            (3,), (3,)),
    Segment("about to sleep", "below-average recency and frequency",
            "reactivate with popular products", (3,), (1, 2)),
    Segment("at risk", "used to buy often, not for a long time", "personal win-back offer",
            (1, 2), (3, 4)),
    Segment("can't lose them", "were among the best, gone quiet", "call or best offer",
            (1, 2), (5,)),
    Segment("hibernating", "few purchases, long ago", "low-cost reminder or let go",
            (1, 2), (1, 2)),
)  # fmt: skip


#: The "from" of customers whose first purchase came after the earlier day.
NOT_YET = "not a customer yet"
#: Segments of customers who are drifting away; a move into one from elsewhere is a slip.
LAPSING = frozenset({"about to sleep", "at risk", "can't lose them", "hibernating"})
#: Days the moves between segments look back unless told otherwise (dashboard, CLI, API).
MOVES_DAYS = 30
#: What a reader of segment moves should keep in mind.
MOVES_CAVEAT = (
    "Scores are percentiles among each day's customers, so a move is relative to the rest "
    "of the shop."
)


def _score(column: ir.NumericValue, *, higher_is_better: bool) -> ir.IntegerValue:
    """1-5 by percentile rank; ties share a score."""
    order = column if higher_is_better else column.desc()
    rank = ibis.percent_rank().over(order_by=order)
    return (rank * 5).floor().clip(upper=4).cast("int64") + 1


def rfm_segments(tables: FeatureTables, as_of: dt.date) -> ir.Table:
    """One row per customer: recency, frequency, monetary, their scores and the segment."""
    occasions = purchase_occasions(tables, as_of)
    per = occasions.group_by("user_id").aggregate(
        last_day=occasions.day.max(),
        frequency=occasions.count(),
        monetary=occasions.spend.sum(),
    )
    per = per.mutate(recency_days=ibis.date(as_of).delta(per.last_day, unit="day")).drop("last_day")
    scored = per.mutate(
        r_score=_score(per.recency_days, higher_is_better=False),
        f_score=_score(per.frequency, higher_is_better=True),
        m_score=_score(per.monetary, higher_is_better=True),
    )
    name = ibis.cases(
        *(
            (scored.r_score.isin(s.recency) & scored.f_score.isin(s.frequency), s.name)
            for s in SEGMENTS
        ),
        else_="need attention",
    )
    return scored.mutate(segment=name).order_by("user_id")


def segment_moves(tables: FeatureTables, start: dt.date, end: dt.date) -> ir.Table:
    """How many customers went from each segment on ``start`` to each segment on ``end``.

    Columns ``from_segment``, ``to_segment``, ``customers``; customers who
    first bought after ``start`` come from :data:`NOT_YET`. Both days' scores
    are percentiles among the customers of that day, so a move is relative
    to the shop: slipping while others did not. Largest moves first.
    """
    before = rfm_segments(tables, start).select("user_id", from_segment="segment")
    after = rfm_segments(tables, end).select("user_id", to_segment="segment")
    joined = after.left_join(before, "user_id")
    moves = joined.mutate(from_segment=joined.from_segment.fill_null(NOT_YET))
    counted = moves.group_by(["from_segment", "to_segment"]).aggregate(customers=moves.count())
    return counted.order_by([counted.customers.desc(), "from_segment", "to_segment"])


@dataclass(frozen=True)
class MoveCounts:
    """The totals behind a :func:`segment_moves` frame."""

    #: Customers who had bought by the earlier day.
    earlier: int
    #: Of those, customers in another segment on the later day.
    changed: int
    #: Customers whose first purchase came between the two days.
    first_time: int
    #: Of ``changed``, those who moved from an active segment into a :data:`LAPSING` one.
    slipped: int


def count_moves(moves: pd.DataFrame) -> MoveCounts:
    """Totals of a fetched :func:`segment_moves` frame."""
    known = moves[moves.from_segment != NOT_YET]
    changed = known[known.from_segment != known.to_segment]
    slipped = changed[~changed.from_segment.isin(LAPSING) & changed.to_segment.isin(LAPSING)]
    return MoveCounts(
        earlier=int(known.customers.sum()),
        changed=int(changed.customers.sum()),
        first_time=int(moves.customers.sum() - known.customers.sum()),
        slipped=int(slipped.customers.sum()),
    )


def describe_moves(counts: MoveCounts) -> str:
    """The totals of the moves in one sentence, with what a reader should keep in mind."""
    lapsing = ", ".join(s.name for s in SEGMENTS if s.name in LAPSING)
    return (
        f"{counts.changed:,} of {counts.earlier:,} customers changed segment, "
        f"{counts.slipped:,} of them from an active segment into {lapsing}; "
        f"{counts.first_time:,} bought for the first time. {MOVES_CAVEAT}"
    )
