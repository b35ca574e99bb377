"""A campaign from the store: scores + complaints + budget → the ``interventions`` table.

Reads ``user_scores`` (written by ``retain train predict``), marks customers
with a recent complaint (a support conversation, a review rated 2 or less,
or a review the sentiment model scored negative — ``review_scores``, so a
bad review without a rating counts too — in the last ``complaint_days``),
plans with :func:`plan_campaign`, and appends the campaign to
``interventions`` with its id, so past campaigns stay for the experiment
that measures them — and for the next campaign, which leaves out customers
still cooling down from an action they were given (:func:`cooling_down`;
customers held out as control were given nothing).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd

from retain.data.store import Store
from retain.errors import NotFoundError
from retain.features.customer import FeatureTables
from retain.retention.policy import UpliftModel, cooling_down, plan_campaign
from retain.retention.tracking import log_assignments

__all__ = [
    "INTERVENTIONS_TABLE",
    "CampaignResult",
    "actions_given",
    "build_campaign",
    "negative_reviewers",
    "recent_complaints",
]

INTERVENTIONS_TABLE = "interventions"


@dataclass(frozen=True)
class CampaignResult:
    """A planned campaign and where it was written."""

    campaign_id: str
    plan: pd.DataFrame
    budget: float
    customers_considered: int
    experiment: str | None = None

    @property
    def expected_cost(self) -> float:
        return float(self.plan.expected_cost.sum())

    @property
    def expected_net_value(self) -> float:
        return float(self.plan.expected_net_value.sum())


def recent_complaints(tables: FeatureTables, as_of: dt.date, days: int = 30) -> set[str]:
    """Customers with a support conversation or a review rated <= 2 in the last ``days``."""
    start = ibis.timestamp(dt.datetime.combine(as_of - dt.timedelta(days=days - 1), dt.time()))
    end = ibis.timestamp(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))
    found: set[str] = set()
    if tables.conversations is not None:
        chats = tables.conversations
        recent = chats.filter(chats.ts >= start, chats.ts < end, chats.user_id.notnull())
        found |= set(tables.fetch(recent.select("user_id").distinct()).user_id)
    if tables.reviews is not None:
        reviews = tables.reviews
        bad = reviews.filter(
            reviews.ts >= start, reviews.ts < end, reviews.rating <= 2, reviews.user_id.notnull()
        )
        found |= set(tables.fetch(bad.select("user_id").distinct()).user_id)
    return found


def negative_reviewers(store: Store, as_of: dt.date, days: int = 30) -> set[str]:
    """Customers whose review in the last ``days`` the sentiment model scored negative."""
    if not store.has_table("review_scores"):
        return set()
    start = dt.datetime.combine(as_of - dt.timedelta(days=days - 1), dt.time())
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    rows = store.execute(
        "SELECT DISTINCT user_id FROM review_scores "
        "WHERE label = 0 AND user_id IS NOT NULL AND ts >= ? AND ts < ?",
        [start, end],
    ).fetchall()
    return {str(r[0]) for r in rows}


def actions_given(store: Store) -> pd.DataFrame:
    """Every action past campaigns gave (control customers got none): user, action, when."""
    if not store.has_table(INTERVENTIONS_TABLE):
        return pd.DataFrame({"user_id": [], "action": [], "given_at": []})
    return store.query_df(
        f"SELECT user_id, action, created_at AS given_at FROM {INTERVENTIONS_TABLE} "
        "WHERE variant IS NULL OR variant = 'treatment'"
    )


def build_campaign(
    store: Store,
    budget: float,
    *,
    complaint_days: int = 30,
    uplift: UpliftModel | None = None,
    export: Path | None = None,
    holdout: float | None = None,
) -> CampaignResult:
    """Plan a campaign from the latest ``user_scores`` and append it to ``interventions``.

    With ``holdout`` (a share, e.g. 0.2) the campaign is also an experiment
    named after it: that share of the planned customers is assigned to
    ``control`` and gets nothing, the assignment is logged, and the CSV
    export lists only the ``treatment`` customers — the ones to act on.
    When ``retain train recommend`` has run, the export also carries each
    customer's top three recommended items, for the message's content.
    """
    if not store.has_table("user_scores"):
        raise NotFoundError("no user_scores yet; run `retain train predict` first")
    scores = store.query_df("SELECT * FROM user_scores")
    tables = FeatureTables.from_store(store)
    as_of = pd.Timestamp(scores.cutoff.iloc[0]).date() if len(scores) else dt.date.today()
    complained = recent_complaints(tables, as_of, complaint_days)
    complained |= negative_reviewers(store, as_of, complaint_days)
    customers = scores.assign(has_complaint=scores.user_id.isin(complained))
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    unavailable = cooling_down(actions_given(store), created)
    plan = plan_campaign(customers, budget, uplift=uplift, unavailable=unavailable)
    campaign_id = "C" + uuid.uuid4().hex[:12]
    experiment = None
    variant = pd.Series([None] * len(plan), dtype="string")
    if holdout is not None:
        experiment = f"campaign-{campaign_id}"
        log = log_assignments(
            store,
            experiment,
            plan.user_id.astype(str).tolist(),
            holdout=holdout,
            exposed_at=created,
            campaign_id=campaign_id,
        )
        variant = log.variant
    stored = plan.assign(
        campaign_id=campaign_id,
        created_at=created,
        budget=float(budget),
        model_version=scores.model_version.iloc[0] if len(scores) else None,
        variant=pd.Series(variant.to_list(), index=plan.index, dtype="string"),
    )
    if len(stored):
        store.write_table(INTERVENTIONS_TABLE, stored, mode="append")
    if export is not None:
        to_act_on = _with_recommended_items(
            store, stored[stored.variant.fillna("treatment") == "treatment"]
        )
        export.parent.mkdir(parents=True, exist_ok=True)
        partial = export.with_name(export.name + ".partial")
        to_act_on.to_csv(partial, index=False)
        partial.replace(export)  # a reader never sees half a file
    return CampaignResult(
        campaign_id=campaign_id,
        plan=plan,
        budget=budget,
        customers_considered=len(scores),
        experiment=experiment,
    )


def _with_recommended_items(store: Store, rows: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """``rows`` plus ``recommended_items`` (item ids, ``;``-joined) when there are lists."""
    if not store.has_table("recommendations") or rows.empty:
        return rows
    lists = store.query_df(
        "SELECT user_id, string_agg(item_id, ';' ORDER BY rank) AS recommended_items "
        "FROM recommendations WHERE rank <= ? GROUP BY user_id",
        [top],
    )
    return rows.merge(lists, on="user_id", how="left")
