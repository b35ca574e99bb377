"""Who is in a segment: the list a growth team exports to reach them.

One function serves the dashboard's segment pages, ``retain segments
--members`` and ``GET /v1/segments/...``, so all three list the same
customers in the same order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from retain.data.store import Store
from retain.data.summary import latest_order_day
from retain.errors import InvalidInputError, NotFoundError
from retain.features.customer import FeatureTables
from retain.retention.by_orders import ByOrders
from retain.retention.cluster_training import (
    LEARNED_KINDS,
    LearnedKind,
    stored_clusters,
    stored_members,
)
from retain.retention.clusters import Cluster
from retain.retention.policy import value_if_retained
from retain.retention.segments import MOVES_DAYS, NOT_YET, SEGMENTS

__all__ = [
    "KINDS",
    "SegmentList",
    "SegmentMembers",
    "UnknownSegmentError",
    "check_kind",
    "find_segment",
    "list_segments",
    "segment_members",
]

#: Segment kinds: RFM segments by name, learned segments (behaviour, taste) by number.
KINDS = ("rfm", *LEARNED_KINDS)
_SCORE_COLUMNS = ["user_id", "churn_risk", "expected_lifetime_value", "repurchase_probability"]


@dataclass(frozen=True)
class SegmentMembers:
    """One segment and every customer in it, most value at stake first."""

    kind: str
    name: str
    title: str
    about: str
    as_of: dt.date
    #: user_id, recency_days, frequency, monetary and, once customers are
    #: scored, churn_risk, expected_lifetime_value and at_stake.
    customers: pd.DataFrame

    @property
    def has_scores(self) -> bool:
        return "churn_risk" in self.customers


class UnknownSegmentError(NotFoundError):
    """No segment of that kind and name; the message lists the ones there are."""


def check_kind(kind: str) -> None:
    """Raises :class:`InvalidInputError` unless ``kind`` is one of :data:`KINDS`."""
    if kind not in KINDS:
        raise InvalidInputError(f"segment kind must be one of {', '.join(KINDS)}; got {kind!r}")


def _is_rfm(name: str, *also: str) -> bool:
    return name in also or any(seg.name == name for seg in SEGMENTS)


def _cluster(
    store: Store, tables: FeatureTables, day: dt.date, name: str, kind: LearnedKind
) -> tuple[Cluster, pd.Series] | None:
    """The learned segment numbered ``name`` and its customers' ids: stored, else fitted now.

    The stored segments are the ones the Segments page lists, so its links
    lead to the same customers.
    """
    stored = stored_clusters(store, kind)
    if stored is not None:
        found = next((c for c in stored.clusters if str(c.label) == name), None)
        if found is None:
            return None
        return found, pd.Series(stored_members(store, found.label, kind))
    try:
        labels, clusters = kind.fit_now(tables, day)
    except InvalidInputError:
        return None
    found = next((c for c in clusters if str(c.label) == name), None)
    return None if found is None else (found, labels[labels.cluster == found.label].user_id)


def segment_members(
    store: Store,
    kind: str,
    name: str,
    *,
    moved_from: str | None = None,
    days: int = MOVES_DAYS,
) -> SegmentMembers | None:
    """Every customer of one segment; ``None`` when there is no such segment.

    ``kind`` is ``rfm`` (``name`` a segment name such as "at risk"),
    ``cluster`` or ``taste`` (``name`` the learned behaviour or taste
    segment's number, as ``retain clusters`` and the Segments page show it).
    Once customers are scored, the order is churn risk times what they
    would spend if they stay, as on the At-risk page; before, total spend.

    ``moved_from`` (RFM only) keeps the members who were in that segment
    ``days`` days before the last order (or :data:`NOT_YET`, first-time
    buyers since): the customers behind one cell of :func:`segment_moves`,
    e.g. loyal customers who became at risk, the list a win-back starts from.
    """
    day = latest_order_day(store)
    if day is None or kind not in KINDS:
        return None
    if moved_from is not None and (kind != "rfm" or not _is_rfm(moved_from, NOT_YET) or days < 1):
        return None
    tables = FeatureTables.from_store(store)
    by_orders = ByOrders.of(store, tables)
    scored = by_orders.rfm(day)
    if kind == "rfm":
        described = next((seg for seg in SEGMENTS if seg.name == name), None)
        if described is None:
            return None
        members = scored[scored.segment == name]
        title = name
        what = described.description
        about = f"{what[:1].upper()}{what[1:]}. What to do: {described.action}."
        if moved_from is not None:
            start = day - dt.timedelta(days=days)
            earlier = by_orders.rfm(start).set_index("user_id").segment
            was = members.user_id.map(earlier).fillna(NOT_YET)
            members = members[was == moved_from]
            title = f"{name} (from {moved_from} since {start})"
            about = f"Customers who were {moved_from} on {start} and are {name} now. " + about
    else:
        learned_kind = LEARNED_KINDS[kind]
        learned = _cluster(store, tables, day, name, learned_kind)
        if learned is None:
            return None
        found, ids = learned
        members = scored[scored.user_id.isin(ids)]
        title = f"{learned_kind.title} {name}"
        about = found.description[:1].upper() + found.description[1:] + "."
    frame = members[["user_id", "recency_days", "frequency", "monetary"]]
    if store.has_table("user_scores"):
        scores = store.query_df(f"SELECT {', '.join(_SCORE_COLUMNS)} FROM user_scores")
        frame = frame.merge(scores, on="user_id", how="left")
        at_stake = frame.churn_risk * value_if_retained(frame.fillna(0.0))
        frame = frame.assign(at_stake=at_stake).drop(columns="repurchase_probability")
        frame = frame.sort_values(["at_stake", "monetary"], ascending=False, na_position="last")
    else:
        frame = frame.sort_values("monetary", ascending=False)
    rounded = frame.round(
        {"monetary": 2, "expected_lifetime_value": 2, "at_stake": 2, "churn_risk": 4}
    )
    return SegmentMembers(kind, name, title, about, day, rounded.reset_index(drop=True))


def find_segment(
    store: Store,
    kind: str,
    name: str,
    *,
    moved_from: str | None = None,
    days: int = MOVES_DAYS,
) -> SegmentMembers:
    """:func:`segment_members`, or an error that says what was wrong and what exists.

    The CLI (``retain segments --members``, ``retain campaign --segment``)
    and ``POST /v1/campaigns`` turn a segment someone named into an audience
    with this, so both refuse the same things with the same words.

    Raises:
        InvalidInputError: ``kind`` is not one of :data:`KINDS`, ``days`` is
            below 1, or ``moved_from`` is not an RFM segment (or
            :data:`NOT_YET`) or comes with a learned kind.
        UnknownSegmentError: there is no such segment (or no orders yet).
    """
    check_kind(kind)
    if days < 1:
        raise InvalidInputError(f"a move's window must be at least 1 day; got {days}")
    names = [s.name for s in SEGMENTS]
    if moved_from is not None:
        if kind != "rfm":
            raise InvalidInputError(
                f"moves are between RFM segments: 'moved from' {moved_from!r} needs kind rfm, "
                f"not {kind!r}"
            )
        if not _is_rfm(moved_from, NOT_YET):
            raise InvalidInputError(
                f"'moved from' {moved_from!r} is no RFM segment; use {NOT_YET!r}, "
                + ", ".join(names)
            )
    found = segment_members(store, kind, name, moved_from=moved_from, days=days)
    if found is None:
        if latest_order_day(store) is None:
            raise UnknownSegmentError(f"no {kind} segment {name!r}: the shop has no orders yet")
        known = ", ".join(names) if kind == "rfm" else _cluster_numbers(store, LEARNED_KINDS[kind])
        raise UnknownSegmentError(f"no {kind} segment {name!r}; segments: {known}")
    return found


def _cluster_numbers(store: Store, kind: LearnedKind) -> str:
    """The stored learned segments' numbers, for an error message."""
    stored = stored_clusters(store, kind)
    if stored is None:
        return f"the numbers `retain clusters --kind {kind.name}` shows"
    return ", ".join(str(label) for label in sorted(c.label for c in stored.clusters))


@dataclass(frozen=True)
class SegmentList:
    """Every segment of one kind, with its size and what sets it apart."""

    kind: str
    as_of: dt.date
    #: The stored model the learned segments come from; ``None`` for RFM.
    model_version: str | None
    #: name, customers, share, description and (RFM) action, in the
    #: order the dashboard shows them.
    segments: pd.DataFrame


def list_segments(store: Store, kind: str) -> SegmentList | None:
    """The segments of ``kind`` a client can name in :func:`segment_members`.

    RFM segments are ranked from the orders as of the last order day (every
    segment listed, empty ones with 0); learned segments are the stored ones
    (``None`` before ``retain train segments``, so an API client never gets
    numbers that change on the next call). ``None`` too for a shop without
    orders.

    Raises:
        InvalidInputError: ``kind`` is not one of :data:`KINDS`.
    """
    check_kind(kind)
    day = latest_order_day(store)
    if day is None:
        return None
    if kind == "rfm":
        counts = ByOrders.of(store).rfm(day).segment.value_counts()
        total = max(int(counts.sum()), 1)
        rows = [
            {
                "name": seg.name,
                "customers": int(counts.get(seg.name, 0)),
                "share": float(counts.get(seg.name, 0)) / total,
                "description": seg.description,
                "action": seg.action,
            }
            for seg in SEGMENTS
        ]
        return SegmentList(kind, day, None, pd.DataFrame(rows))
    stored = stored_clusters(store, LEARNED_KINDS[kind])
    if stored is None:
        return None
    rows = [
        {
            "name": str(c.label),
            "customers": c.customers,
            "share": c.share,
            "description": c.description,
            "action": None,
        }
        for c in stored.clusters
    ]
    return SegmentList(kind, stored.as_of, stored.version, pd.DataFrame(rows))
