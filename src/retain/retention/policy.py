"""Who gets which action under a budget: the intervention policy.

For every customer and action the policy needs two numbers: how much the
action raises the chance that the customer buys again (*uplift*) and what it
costs. The expected net value of giving action ``a`` to customer ``u`` is

    uplift(u, a) * value_if_retained(u) - cost(u, a)

where ``value_if_retained`` is the customer's expected spend over the horizon
given that they buy (``expected_lifetime_value / repurchase_probability``,
from ``user_scores``). Each customer gets at most one action; the campaign
maximises the summed net value with the summed cost within the budget (a
multiple-choice knapsack, solved by its Lagrangian: each customer takes the
action with the best ``net value - lambda * cost`` and ``lambda`` is raised
until the budget holds).

A shop runs campaigns again and again, so a customer who got an action
recently is not offered one of its kind again until its ``cooldown_days``
have passed (:func:`cooling_down`): no second coupon while the first is
still valid, no more than one message a week.

Uplift comes from an experiment when one has been run
(:class:`TLearnerUplift`, trained on who was treated and who bought); until
then from :class:`AssumedUplift`, whose assumptions are stated and
configurable: an action moves customers who are undecided — neither sure to
buy nor already gone — so uplift peaks at a repurchase probability of one
half and scales with ``p_alive``; care contacts work only for customers with
an unresolved complaint or a bad review.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from retain.currency import format_money
from retain.errors import InvalidInputError

__all__ = [
    "DEFAULT_ACTIONS",
    "PICKS_MESSAGE",
    "SMALL_OFFER_SHARE",
    "Action",
    "AssumedUplift",
    "TLearnerUplift",
    "UpliftModel",
    "cooling_down",
    "plan_campaign",
    "small_offers",
    "value_if_retained",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Action:
    """Something the shop can do for one customer.

    Attributes:
        name: Shown in the campaign list.
        fixed_cost: Paid whatever the customer does (a message, an agent's time).
        cost_if_used: Paid only when the customer buys (a coupon's face value).
        max_uplift: The largest rise in repurchase probability assumed for the
            most persuadable customer, before any experiment has measured it.
        needs_complaint: Only sensible for customers with a recent complaint.
        cooldown_days: After a customer got an action of this kind, the days
            before they may get one again (0: any time).
        kind: Actions of one kind share the cooldown (a 5-off and a 15-off
            coupon are both coupons); empty means the name.
        needs_picks: Carries the customer's recommendation list, so only
            customers who have one may get it.
        marketing: A marketing message (a coupon, picks), which only
            customers who accept marketing may get; a care contact about a
            customer's own complaint is service, not marketing.
    """

    name: str
    fixed_cost: float
    cost_if_used: float
    max_uplift: float
    needs_complaint: bool = False
    description: str = ""
    cooldown_days: int = 0
    kind: str = ""
    needs_picks: bool = False
    marketing: bool = True

    @property
    def family(self) -> str:
        """What the cooldown is shared by: ``kind``, or the name when there is none."""
        return self.kind or self.name


#: The action that sends a customer their recommendation list; it needs one.
PICKS_MESSAGE = "recommendation_message"

DEFAULT_ACTIONS: tuple[Action, ...] = (
    Action(
        "coupon_5", 0.0, 5.0, 0.06, description="5 off the next order", cooldown_days=30,
        kind="coupon",
    ),
    Action(
        "coupon_15", 0.0, 15.0, 0.12, description="15 off the next order", cooldown_days=30,
        kind="coupon",
    ),
    Action(
        PICKS_MESSAGE,
        0.02,
        0.0,
        0.03,
        description="a message with personalised picks",
        cooldown_days=7,
        needs_picks=True,
    ),
    Action(
        "care_contact",
        3.0,
        0.0,
        0.20,
        needs_complaint=True,
        description="an agent follows up on the complaint",
        cooldown_days=30,
        marketing=False,
    ),
)  # fmt: skip


class UpliftModel(Protocol):
    """Uplift per customer (rows of ``customers``) for one action, and where it comes from."""

    def uplift(self, action: Action, customers: pd.DataFrame) -> FloatArray: ...

    def basis(self, action: Action) -> str:
        """Where the action's uplift comes from, in words, for the campaign's reasons."""
        ...


class AssumedUplift:
    """The stated prior: ``max_uplift * 4 p (1 - p) * p_alive``, complaints for care."""

    def uplift(self, action: Action, customers: pd.DataFrame) -> FloatArray:
        p = customers.repurchase_probability.to_numpy(np.float64)
        alive = customers.get("p_alive", pd.Series(1.0, index=customers.index)).to_numpy(np.float64)
        value = action.max_uplift * 4.0 * p * (1.0 - p) * alive
        if action.needs_complaint:
            complained = customers.get(
                "has_complaint", pd.Series(False, index=customers.index)
            ).to_numpy(bool)
            value = np.where(complained, value, 0.0)
        return np.asarray(value, dtype=np.float64)

    def basis(self, action: Action) -> str:
        return "assumed"


class TLearnerUplift:
    """Uplift learned from a past experiment: one model per arm, the difference, calibrated.

    Fit per action on the experiment's customers with their features as of
    its start, whether they got the action, and whether they bought within
    the horizon. A raw T-learner difference is noisy — a customer who does
    not respond at all can show +3 points by chance, and a policy spends on
    exactly those errors — so predictions are mapped through the uplift that
    was really observed: out-of-fold predictions are cut into deciles, the
    treated-minus-control repurchase rate is measured in each, and an
    increasing (isotonic) curve from predicted to observed uplift is fitted.

    With a few hundred treated customers, which half of them trains and
    which half predicts moves that curve a lot (one 90-day campaign in
    ``retain bench retention`` moved by up to 1.2 points of retention on a
    seed when only the split changed). So the two-fold split is repeated
    ``repeats`` times, each fold holding half of each arm; a customer's
    out-of-fold prediction is the mean over the repeats, and serving
    averages the same fold models, so the curve is applied to predictions
    of the kind it was fitted on. Actions without experiment data fall back
    to ``fallback``.
    """

    def __init__(
        self, features: Sequence[str], fallback: UpliftModel | None = None, repeats: int = 5
    ) -> None:
        self.features = list(features)
        self.fallback = fallback or AssumedUplift()
        self.repeats = repeats
        self._models: dict[
            str, tuple[list[tuple[lgb.Booster, lgb.Booster]], IsotonicRegression]
        ] = {}
        #: Per action learned, the customers of the experiments it was learned from.
        self.learned: dict[str, int] = {}

    @staticmethod
    def _arm_models(
        matrix: FloatArray, arm: npt.NDArray[np.bool_], outcome: FloatArray
    ) -> tuple[lgb.Booster, lgb.Booster]:
        params: dict[str, Any] = {
            "objective": "binary",
            "learning_rate": 0.05,
            "num_leaves": 7,
            "min_data_in_leaf": 50,
            "verbose": -1,
            "deterministic": True,
            "seed": 0,
        }
        treated = lgb.train(params, lgb.Dataset(matrix[arm], outcome[arm]), num_boost_round=150)
        control = lgb.train(params, lgb.Dataset(matrix[~arm], outcome[~arm]), num_boost_round=150)
        return treated, control

    def fit(
        self, action: str, customers: pd.DataFrame, treated: npt.ArrayLike, bought: npt.ArrayLike
    ) -> TLearnerUplift:
        arm = np.asarray(treated, dtype=bool)
        outcome = np.asarray(bought, dtype=np.float64)
        if arm.sum() < 100 or (~arm).sum() < 100:
            raise InvalidInputError(
                f"experiment for {action!r} needs at least 100 treated and 100 control users; "
                f"got {int(arm.sum())} and {int((~arm).sum())}"
            )
        matrix = customers[self.features].to_numpy(np.float64)
        rng = np.random.default_rng(0)
        pairs: list[tuple[lgb.Booster, lgb.Booster]] = []
        predicted = np.zeros(len(arm))
        for _ in range(self.repeats):
            # Two folds, each holding half of the treated and half of the control customers.
            fold = np.zeros(len(arm), dtype=bool)
            for side in (arm, ~arm):
                members = rng.permutation(np.flatnonzero(side))
                fold[members[: len(members) // 2]] = True
            for part in (fold, ~fold):
                pair = self._arm_models(matrix[~part], arm[~part], outcome[~part])
                predicted[part] += _difference(pair, matrix[part]) / self.repeats
                pairs.append(pair)
        points, observed, weights = [], [], []
        for rows in np.array_split(np.argsort(predicted), 10):
            hit, miss = rows[arm[rows]], rows[~arm[rows]]
            if len(hit) and len(miss):
                points.append(predicted[rows].mean())
                observed.append(outcome[hit].mean() - outcome[miss].mean())
                weights.append(len(rows))
        calibration = IsotonicRegression(out_of_bounds="clip").fit(
            points, observed, sample_weight=weights
        )
        self._models[action] = (pairs, calibration)
        self.learned[action] = len(arm)
        return self

    def basis(self, action: Action) -> str:
        if action.name not in self.learned:
            return self.fallback.basis(action)
        return f"measured on {self.learned[action.name]:,} customers of past experiments"

    def uplift(self, action: Action, customers: pd.DataFrame) -> FloatArray:
        models = self._models.get(action.name)
        if models is None:
            return self.fallback.uplift(action, customers)
        pairs, calibration = models
        matrix = customers[self.features].to_numpy(np.float64)
        raw = np.mean([_difference(pair, matrix) for pair in pairs], axis=0)
        return np.asarray(calibration.predict(raw), dtype=np.float64)


def _difference(pair: tuple[lgb.Booster, lgb.Booster], matrix: FloatArray) -> FloatArray:
    treated = np.asarray(pair[0].predict(matrix), dtype=np.float64)
    control = np.asarray(pair[1].predict(matrix), dtype=np.float64)
    return np.asarray(treated - control, dtype=np.float64)


#: When every coupon is worth less than this share of the shop's median order, the
#: shop has no coupon large enough to move anyone as much as the built-in assumption says.
SMALL_OFFER_SHARE = 0.05


def small_offers(actions: Sequence[Action], median_order: float | None) -> list[Action]:
    """The coupons, when every one is worth under :data:`SMALL_OFFER_SHARE` of the median order.

    The built-in coupons are 5 and 15 off, with at most 6 and 12 points of
    assumed uplift: plausible where orders are worth tens, not for a
    wholesaler whose median order is worth hundreds. The policy cannot know
    that on its own — until a holdout campaign measures the coupons it takes
    the assumption at its word — so ``retain campaign`` names such coupons
    and points to ``[campaign] actions`` in ``retain.toml``. One coupon of a
    fair size is enough to stay quiet: a small one beside it is then the
    shop's choice.
    """
    coupons = [a for a in actions if a.cost_if_used > 0]
    if median_order is None or median_order <= 0 or not coupons:
        return []
    limit = SMALL_OFFER_SHARE * median_order
    return coupons if all(a.cost_if_used < limit for a in coupons) else []


def value_if_retained(customers: pd.DataFrame) -> FloatArray:
    """Expected spend over the horizon if the customer buys again (probability floored at 5%)."""
    value = customers.expected_lifetime_value.to_numpy(np.float64)
    p = np.clip(customers.repurchase_probability.to_numpy(np.float64), 0.05, 1.0)
    return np.asarray(value / p, dtype=np.float64)


def cooling_down(
    history: pd.DataFrame, when: dt.datetime, actions: Sequence[Action] = DEFAULT_ACTIONS
) -> dict[str, set[str]]:
    """Per action name, the customers who may not get it at ``when``.

    ``history`` holds the actions given before, one row each: ``user_id``,
    ``action`` (a name), ``given_at`` (when it was given) and optionally
    ``kind`` (the action's :attr:`Action.family` then). A customer is cooling
    down for an action when they got any action of its kind less than its
    ``cooldown_days`` before ``when``. A past action's kind is the stored one;
    without it, that of the action of its name in ``actions`` or else in
    :data:`DEFAULT_ACTIONS`, or else its name — so a shop that replaces the
    built-in coupons by its own ``kind = "coupon"`` ones still waits out the
    old coupons.
    """
    missing = {"user_id", "action", "given_at"} - set(history.columns)
    if missing:
        raise InvalidInputError(f"the action history lacks the columns {sorted(missing)}")
    family_of = {a.name: a.family for a in DEFAULT_ACTIONS} | {a.name: a.family for a in actions}
    names = history.action.astype(str)
    family = names.map(family_of).fillna(names)
    if "kind" in history.columns:
        stored = history["kind"].astype("string")
        family = stored.where(stored.notna() & (stored != ""), family)
    last_given = (
        pd.DataFrame(
            {"user_id": history.user_id.astype(str), "family": family.astype(str),
             "given_at": pd.to_datetime(history.given_at)}
        )
        .groupby(["family", "user_id"]).given_at.max()
    )  # fmt: skip
    blocked: dict[str, set[str]] = {}
    for action in actions:
        if action.cooldown_days <= 0 or action.family not in last_given.index.get_level_values(0):
            blocked[action.name] = set()
            continue
        last = last_given.loc[action.family]
        recent = last[last > pd.Timestamp(when) - pd.Timedelta(days=action.cooldown_days)]
        blocked[action.name] = set(recent.index)
    return blocked


def plan_campaign(
    customers: pd.DataFrame,
    budget: float,
    *,
    actions: Sequence[Action] = DEFAULT_ACTIONS,
    uplift: UpliftModel | None = None,
    unavailable: Mapping[str, Collection[str]] | None = None,
    currency: str | None = None,
) -> pd.DataFrame:
    """Choose at most one action per customer to maximise expected net value within ``budget``.

    Args:
        customers: One row per customer with ``user_id``,
            ``repurchase_probability``, ``expected_lifetime_value`` and
            optionally ``p_alive`` and ``has_complaint`` — ``user_scores``
            has the first ones.
        budget: The most the campaign may cost in expectation.
        actions: What the shop can do.
        uplift: Where uplift comes from (default: :class:`AssumedUplift`).
        unavailable: Per action name, customers who may not get it now
            (:func:`cooling_down`); they may still get another action.
        currency: The shop's currency, for the amounts in each reason.

    Returns:
        One row per customer who gets an action: ``user_id``, ``action``,
        ``expected_cost``, ``uplift``, ``expected_net_value`` and ``reason``,
        best value first.
    """
    if budget < 0 or not np.isfinite(budget):
        raise InvalidInputError(f"budget must be a non-negative number; got {budget}")
    missing = {"user_id", "repurchase_probability", "expected_lifetime_value"} - set(
        customers.columns
    )
    if missing:
        raise InvalidInputError(f"customers lack the columns {sorted(missing)}")
    columns = ["user_id", "action", "expected_cost", "uplift", "expected_net_value", "reason"]
    if customers.empty or not actions:
        return pd.DataFrame(columns=columns)
    model = uplift or AssumedUplift()
    p = customers.repurchase_probability.to_numpy(np.float64)
    worth = value_if_retained(customers)
    lifts = np.column_stack([np.clip(model.uplift(a, customers), 0.0, 1.0 - p) for a in actions])
    costs = np.column_stack(
        [a.fixed_cost + a.cost_if_used * np.minimum(p + lifts[:, i], 1.0)
         for i, a in enumerate(actions)]
    )  # fmt: skip
    net = lifts * worth[:, None] - costs
    if unavailable:
        user_ids = customers.user_id.astype(str)
        for column, action in enumerate(actions):
            net[user_ids.isin(unavailable.get(action.name, ())).to_numpy(), column] = -np.inf
    choice = _choose_within_budget(net, costs, budget)
    chosen = np.flatnonzero(choice >= 0)
    picked = choice[chosen]
    rows = pd.DataFrame(
        {
            "user_id": customers.user_id.to_numpy()[chosen],
            "action": [actions[i].name for i in picked],
            "expected_cost": costs[chosen, picked],
            "uplift": lifts[chosen, picked],
            "expected_net_value": net[chosen, picked],
        }
    )
    basis = [model.basis(a) for a in actions]
    rows["reason"] = [
        _reason(actions[i], p[u], worth[u], lifts[u, i], costs[u, i], basis[i], currency)
        for u, i in zip(chosen, picked, strict=True)
    ]
    return rows.sort_values("expected_net_value", ascending=False).reset_index(drop=True)


def _choose_within_budget(net: FloatArray, costs: FloatArray, budget: float) -> npt.NDArray[Any]:
    """Per customer the chosen action's column, or -1 for none (Lagrangian knapsack)."""

    def pick(penalty: float) -> tuple[npt.NDArray[Any], float]:
        score = net - penalty * costs
        best = score.argmax(axis=1)
        take = score[np.arange(len(best)), best] > 0
        choice = np.where(take, best, -1)
        spent = float(costs[np.arange(len(best)), best][take].sum())
        return choice, spent

    choice, spent = pick(0.0)
    if spent <= budget:
        return choice
    low, high = 0.0, 1.0
    while pick(high)[1] > budget:
        high *= 2.0
        if high > 1e12:
            break
    for _ in range(60):
        middle = (low + high) / 2.0
        if pick(middle)[1] > budget:
            low = middle
        else:
            high = middle
    choice, spent = pick(high)
    return _fill_leftover(choice, net, costs, budget - spent)


def _fill_leftover(
    choice: npt.NDArray[Any], net: FloatArray, costs: FloatArray, leftover: float
) -> npt.NDArray[Any]:
    """Spend what the Lagrangian leaves: greedily, best extra value per extra cost first.

    A customer with no action may get one, and a customer with a cheap action
    may be moved to a dearer one worth more. The latter matters when many
    customers tie: the Lagrangian then gives all of them the dear action or
    none, and without upgrades most of the budget would stay unspent.
    """
    if leftover <= 0:
        return choice
    rows = np.arange(len(choice))
    chosen = choice >= 0
    current_net = np.where(chosen, net[rows, np.maximum(choice, 0)], 0.0)
    current_cost = np.where(chosen, costs[rows, np.maximum(choice, 0)], 0.0)
    gain = net - current_net[:, None]
    extra = costs - current_cost[:, None]
    ratio = np.where((gain > 0) & (extra > 0), gain / np.maximum(extra, 1e-12), -np.inf)
    best = ratio.argmax(axis=1)
    order = np.argsort(-ratio[rows, best])
    for user in order:
        action = best[user]
        if not np.isfinite(ratio[user, action]):
            break
        if extra[user, action] <= leftover:
            choice[user] = action
            leftover -= extra[user, action]
    return choice


def _reason(
    action: Action,
    p: float,
    worth: float,
    lift: float,
    cost: float,
    basis: str,
    currency: str | None,
) -> str:
    return (
        f"{1 - p:.0%} churn risk, worth {format_money(worth, currency)} if retained; "
        f"{action.description or action.name} expected to add {lift * 100:.1f} points "
        f"of repurchase ({basis}) for {format_money(cost, currency)}"
    )
