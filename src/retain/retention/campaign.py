"""A campaign from the store: scores + complaints + budget → the ``interventions`` table.

Reads ``user_scores`` (written by ``retain train predict``), marks customers
with a recent complaint (a support conversation, or a negative review by
:func:`retain.features.customer.marked_reviews`: rated 2 or less, labelled
negative, or scored negative by the sentiment model, so a bad review without
a rating counts too — in the last ``complaint_days``),
plans with :func:`plan_campaign`, and appends the campaign to
``interventions`` with its id, so past campaigns stay for the experiment
that measures them — and for the next campaign, which leaves out customers
still cooling down from an action they were given (:func:`cooling_down`;
customers held out as control were given nothing).

Campaigns run with a holdout are experiments, and the next campaign learns
from them (:func:`learned_uplift`): for every action that past experiments
gave to enough treated and control customers, and whose outcome window has
closed, uplift per customer is learned by :class:`TLearnerUplift` instead
of assumed. Each row's reason says which it was.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pandas as pd

from retain.data.store import Store
from retain.data.summary import buyers_since
from retain.errors import InvalidInputError, NotFoundError
from retain.features.customer import (
    FeatureTables,
    customer_features,
    day_after,
    marked_reviews,
    purchase_outcomes,
)
from retain.retention.policy import (
    DEFAULT_ACTIONS,
    Action,
    TLearnerUplift,
    UpliftModel,
    cooling_down,
    plan_campaign,
)
from retain.retention.tracking import log_assignments

__all__ = [
    "INTERVENTIONS_TABLE",
    "UPLIFT_FEATURES",
    "CampaignResult",
    "actions_given",
    "build_campaign",
    "campaign_rows",
    "campaign_summaries",
    "customer_campaigns",
    "learned_uplift",
    "recent_complaints",
    "with_uplift_features",
]

INTERVENTIONS_TABLE = "interventions"
#: Customer features uplift is learned from (:func:`customer_features` columns).
UPLIFT_FEATURES = (
    "x", "recency", "T", "monetary_mean", "ipt_mean", "recent_13w", "event_recency", "views",
    "support_contacts", "returns",
)  # fmt: skip


@dataclass(frozen=True)
class CampaignResult:
    """A planned campaign and where it was written."""

    campaign_id: str
    plan: pd.DataFrame
    budget: float
    customers_considered: int
    experiment: str | None = None
    #: Actions whose uplift was learned from past experiments, with their customers.
    uplift_learned: dict[str, int] = field(default_factory=dict)
    #: Customers considered who have no stored recommendation list, so no message with picks.
    without_picks: int = 0
    #: Customers considered who may get no marketing action (declined, or not opted in).
    without_consent: int = 0
    #: Customers considered who bought after their scores' cutoff: their churn risk is
    #: out of date, so they get no action until the model scores them again.
    bought_since_scored: int = 0
    #: The day the scores were computed as of (their cutoff).
    scored_as_of: dt.date | None = None

    @property
    def expected_cost(self) -> float:
        return float(self.plan.expected_cost.sum())

    @property
    def expected_net_value(self) -> float:
        return float(self.plan.expected_net_value.sum())


def recent_complaints(tables: FeatureTables, as_of: dt.date, days: int = 30) -> set[str]:
    """Customers with a support conversation or a negative review in the last ``days``."""
    start = ibis.timestamp(dt.datetime.combine(as_of - dt.timedelta(days=days - 1), dt.time()))
    end = day_after(as_of)
    found: set[str] = set()
    if tables.conversations is not None:
        chats = tables.conversations
        recent = chats.filter(chats.ts >= start, chats.ts < end, chats.user_id.notnull())
        found |= set(tables.fetch(recent.select("user_id").distinct()).user_id)
    reviews = marked_reviews(tables, as_of)
    if reviews is not None:
        bad = reviews.filter(
            reviews.ts >= start, reviews.ts < end, reviews.negative, reviews.user_id.notnull()
        )
        found |= set(tables.fetch(bad.select("user_id").distinct()).user_id)
    return found


def actions_given(store: Store) -> pd.DataFrame:
    """Every action past campaigns gave (control customers got none): user, action, when, kind.

    ``kind`` is the action's :attr:`~retain.retention.policy.Action.family` as
    it was when given (NULL for campaigns planned before kinds were stored).
    """
    if not store.has_table(INTERVENTIONS_TABLE):
        return pd.DataFrame({"user_id": [], "action": [], "given_at": [], "kind": []})
    has_kind = "action_kind" in store.columns(INTERVENTIONS_TABLE)
    kind = "action_kind" if has_kind else "NULL::VARCHAR"
    return store.query_df(
        f"SELECT user_id, action, created_at AS given_at, {kind} AS kind "
        f"FROM {INTERVENTIONS_TABLE} WHERE variant IS NULL OR variant = 'treatment'"
    )


def build_campaign(
    store: Store,
    budget: float,
    *,
    complaint_days: int = 30,
    uplift: UpliftModel | None = None,
    export: Path | None = None,
    holdout: float | None = None,
    learn_uplift: bool = True,
    audience: Collection[str] | None = None,
    audience_name: str | None = None,
    actions: Sequence[Action] = DEFAULT_ACTIONS,
    currency: str | None = None,
    require_consent: bool = False,
) -> CampaignResult:
    """Plan a campaign from the latest ``user_scores`` and append it to ``interventions``.

    ``actions`` are the offers and contacts the shop can make, as it prices
    them (``[campaign] actions`` in ``retain.toml``; by default a 5-off and a
    15-off coupon, a message with picks and a care contact). An action that
    ``needs_picks`` goes only to customers with a stored recommendation list.

    Without ``uplift``, actions that past campaign experiments measured get
    the uplift learned from them (:func:`learned_uplift`; ``learn_uplift=False``
    keeps the stated prior for every action).

    With ``holdout`` (a share, e.g. 0.2) the campaign is also an experiment
    named after it: that share of the planned customers is assigned to
    ``control`` and gets nothing, the assignment is logged, and the CSV
    export lists only the ``treatment`` customers — the ones to act on.
    When ``retain train recommend`` has run, the export also carries each
    customer's top three recommended items, for the message's content.

    ``audience`` (user ids, e.g. a segment's members) limits the campaign to
    those customers; the budget is then spent on them alone. ``audience_name``
    (e.g. "at risk (from loyal customers since 2026-11-05)") is stored with
    every row, so the Campaigns page says whom the campaign was for.

    A customer whose ``users.marketing_consent`` is false gets no marketing
    action (coupons, messages), only a care contact after a complaint; with
    ``require_consent`` only customers whose consent is true get one.

    A customer who bought after the scores' cutoff (an order or a purchase
    event since) gets no action: the churn risk that chose them predates
    that purchase, and a win-back coupon the day after an order wastes the
    budget and tells the customer the shop does not know them.
    """
    if not store.has_table("user_scores"):
        raise NotFoundError("no user_scores yet; run `retain train predict` first")
    scores = store.query_df("SELECT * FROM user_scores")
    if audience is not None:
        scores = scores[scores.user_id.isin(set(audience))].reset_index(drop=True)
    tables = FeatureTables.from_store(store)
    as_of = pd.Timestamp(scores.cutoff.iloc[0]).date() if len(scores) else dt.date.today()
    complained = recent_complaints(tables, as_of, complaint_days)
    customers = scores.assign(has_complaint=scores.user_id.isin(complained))
    learned: dict[str, int] = {}
    if uplift is None and learn_uplift:
        known = "horizon_days" in scores and len(scores) > 0
        horizon = int(scores["horizon_days"].iloc[0]) if known else 90
        measured = learned_uplift(store, horizon_days=horizon, as_of=as_of)
        if measured.learned:
            uplift, learned = measured, dict(measured.learned)
            customers = with_uplift_features(tables, customers, as_of)
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    unavailable = cooling_down(actions_given(store), created, actions)
    # Only an action that carries the list needs to know who has none.
    needs_picks = [a.name for a in actions if a.needs_picks]
    no_picks = _without_picks(store, customers.user_id) if needs_picks else set()
    _keep_from(unavailable, needs_picks, no_picks)
    marketing = [a.name for a in actions if a.marketing]
    no_consent = _without_consent(store, customers.user_id, require_consent) if marketing else set()
    _keep_from(unavailable, marketing, no_consent)
    returned = (
        buyers_since(store, as_of) & set(customers.user_id.astype(str)) if len(scores) else set()
    )
    _keep_from(unavailable, [a.name for a in actions], returned)
    plan = plan_campaign(
        customers,
        budget,
        actions=actions,
        uplift=uplift,
        unavailable=unavailable,
        currency=currency,
    )
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
    family = {a.name: a.family for a in actions}
    stored = plan.assign(
        action_kind=plan.action.map(family).astype("string"),
        campaign_id=campaign_id,
        created_at=created,
        budget=float(budget),
        audience=pd.Series([audience_name] * len(plan), index=plan.index, dtype="string"),
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
        uplift_learned=learned,
        without_picks=len(no_picks),
        without_consent=len(no_consent),
        bought_since_scored=len(returned),
        scored_as_of=as_of if len(scores) else None,
    )


def campaign_summaries(store: Store) -> pd.DataFrame:
    """One row per planned campaign, newest first: size, budget, cost, value, actions.

    ``actions`` counts each action (e.g. ``{"coupon_5": 12, ...}``);
    ``experiment`` is the campaign's experiment when it held customers out.
    """
    columns = ["campaign_id", "created_at", "customers", "budget", "expected_cost",
               "expected_net_value", "held_out", "experiment", "audience", "actions"]  # fmt: skip
    if not store.has_table(INTERVENTIONS_TABLE):
        return pd.DataFrame(columns=columns)
    # Campaigns planned before audiences were stored have no such column.
    has_audience = "audience" in store.columns(INTERVENTIONS_TABLE)
    audience = "any_value(audience)" if has_audience else "NULL::VARCHAR"
    frame = store.query_df(
        f"SELECT campaign_id, min(created_at) AS created_at, count(*) AS customers, "
        f"any_value(budget) AS budget, sum(expected_cost) AS expected_cost, "
        f"sum(expected_net_value) AS expected_net_value, "
        f"count(*) FILTER (WHERE variant = 'control') AS held_out, "
        f"count(variant) > 0 AS has_experiment, {audience} AS audience "
        f"FROM {INTERVENTIONS_TABLE} "
        "GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    actions = store.query_df(
        f"SELECT campaign_id, action, count(*) AS n FROM {INTERVENTIONS_TABLE} GROUP BY 1, 2"
    )
    counts = {
        str(cid): dict(zip(part.action.astype(str), part.n.astype(int), strict=True))
        for cid, part in actions.groupby("campaign_id")
    }
    frame["experiment"] = [
        f"campaign-{cid}" if has else None
        for cid, has in zip(frame.campaign_id, frame.has_experiment, strict=True)
    ]
    frame["actions"] = pd.Series(
        [counts.get(str(cid), {}) for cid in frame.campaign_id], index=frame.index, dtype=object
    )
    return frame[columns]


def campaign_rows(store: Store, campaign_id: str) -> pd.DataFrame | None:
    """One campaign's customers with their action and reason; ``None`` for no such campaign."""
    if not store.has_table(INTERVENTIONS_TABLE):
        return None
    frame = store.query_df(
        f"SELECT user_id, action, reason, expected_cost, uplift, expected_net_value, "
        f"variant FROM {INTERVENTIONS_TABLE} WHERE campaign_id = ? ORDER BY user_id",
        [campaign_id],
    )
    return None if frame.empty else frame


def customer_campaigns(store: Store, user_id: str) -> pd.DataFrame:
    """Every campaign action planned for one customer, newest first, with the group they were in."""
    columns = ["campaign_id", "created_at", "action", "variant", "reason"]
    if not store.has_table(INTERVENTIONS_TABLE):
        return pd.DataFrame(columns=columns)
    return store.query_df(
        f"SELECT {', '.join(columns)} FROM {INTERVENTIONS_TABLE} WHERE user_id = ? "
        "ORDER BY created_at DESC, campaign_id",
        [user_id],
    )


def with_uplift_features(
    tables: FeatureTables, customers: pd.DataFrame, as_of: dt.date
) -> pd.DataFrame:
    """``customers`` with their :data:`UPLIFT_FEATURES` as of ``as_of``, for learned uplift."""
    current = tables.fetch(customer_features(tables, as_of))
    return customers.merge(current[["user_id", *UPLIFT_FEATURES]], on="user_id", how="left")


def learned_uplift(store: Store, *, horizon_days: int, as_of: dt.date) -> TLearnerUplift:
    """Uplift per action learned from past campaign experiments, where they are conclusive.

    The experiments are the campaigns run with a holdout: ``interventions``
    rows whose ``variant`` is ``treatment`` (given the action) or
    ``control`` (planned for it, held out at random). Only campaigns whose
    outcome window, ``horizon_days`` from the day they were made, ended by
    ``as_of`` count, so an outcome still coming in is never read as "did not
    buy". Each customer is described by their features the day before the
    campaign and labelled by whether they bought within the window. An
    action with fewer than 100 treated or 100 control customers is left out
    and keeps the prior (the returned model's ``learned`` lists what was
    learned, with how many customers).
    """
    model = TLearnerUplift(UPLIFT_FEATURES)
    if not store.has_table(INTERVENTIONS_TABLE):
        return model
    rows = store.query_df(
        f"SELECT user_id, action, variant, created_at FROM {INTERVENTIONS_TABLE} "
        "WHERE variant IN ('treatment', 'control')"
    )
    window = dt.timedelta(days=horizon_days)
    days_before: list[dt.date] = [
        t.date() - dt.timedelta(days=1) for t in pd.to_datetime(rows.created_at)
    ]
    rows["before"] = days_before
    closed = [day for day in sorted(set(days_before)) if day + window <= as_of]
    if not closed:
        return model
    tables = FeatureTables.from_store(store)
    frames = []
    for before in closed:
        campaign = rows[rows.before == before]
        features = tables.fetch(customer_features(tables, before))
        outcome = tables.fetch(purchase_outcomes(tables, before, before + window))
        frames.append(
            campaign.merge(features, on="user_id")
            .merge(outcome[["user_id", "purchases"]], on="user_id", how="left")
            .fillna({"purchases": 0.0})
        )
    experiments = pd.concat(frames, ignore_index=True)
    for action, customers in experiments.groupby("action"):
        treated = (customers.variant == "treatment").to_numpy()
        try:
            model.fit(str(action), customers, treated, customers.purchases > 0)
        except InvalidInputError:
            continue  # too few customers on one side to learn from
    return model


def _keep_from(
    unavailable: dict[str, set[str]], actions: Sequence[str], customers: set[str]
) -> None:
    """Add ``customers`` to those each of ``actions`` may not go to (beside cooldowns)."""
    for name in actions:
        unavailable[name] = set(unavailable.get(name, set())) | customers


def _without_picks(store: Store, user_ids: pd.Series) -> set[str]:
    """The customers among ``user_ids`` with no stored recommendation list.

    A message "with personalised picks" needs picks: planning one for a
    customer the recommender has no list for (a shop that never ran `retain
    train recommend`, or whose orders name no items) would hand the shop a
    message it cannot fill.
    """
    wanted = set(user_ids.astype(str))
    if not store.has_table("recommendations") or not wanted:
        return wanted
    listed = store.query_df("SELECT DISTINCT user_id FROM recommendations")
    return wanted - set(listed.user_id.astype(str))


def _without_consent(store: Store, user_ids: pd.Series, required: bool) -> set[str]:
    """The customers among ``user_ids`` a marketing message may not go to: those
    whose ``marketing_consent`` is false, and with ``required`` also those
    without a true one (no profile, or consent not known)."""
    wanted = set(user_ids.astype(str))
    if not (store.has_table("users") and "marketing_consent" in store.columns("users")):
        return wanted if required else set()
    if required:
        accepted = store.query_df("SELECT user_id FROM users WHERE marketing_consent")
        return wanted - set(accepted.user_id.astype(str))
    declined = store.query_df("SELECT user_id FROM users WHERE NOT marketing_consent")
    return wanted & set(declined.user_id.astype(str))


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
