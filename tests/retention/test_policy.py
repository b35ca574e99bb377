"""The intervention policy: budget held, value near the optimum, uplift learned when measured."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import numpy as np
import pandas as pd
import pytest

from retain.errors import InvalidInputError
from retain.retention.policy import (
    DEFAULT_ACTIONS,
    Action,
    AssumedUplift,
    TLearnerUplift,
    cooling_down,
    plan_campaign,
    small_offers,
)


def _customers(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.95, n)
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "repurchase_probability": p,
            "expected_lifetime_value": p * rng.gamma(2.0, 60.0, n),
            "p_alive": rng.uniform(0.3, 1.0, n),
            "has_complaint": rng.random(n) < 0.1,
        }
    )


def test_the_budget_holds_and_every_action_pays_for_itself() -> None:
    customers = _customers(2000)
    for budget in (0.0, 50.0, 500.0, 2000.0):
        plan = plan_campaign(customers, budget)
        assert plan.expected_cost.sum() <= budget + 1e-9
        assert (plan.expected_net_value > 0).all()
        assert plan.user_id.is_unique
    unlimited = plan_campaign(customers, 1e9)
    assert unlimited.expected_cost.sum() > 2000.0  # so the budgets below bind
    values = [plan_campaign(customers, b).expected_net_value.sum() for b in (50.0, 500.0, 2000.0)]
    assert values == sorted(values) and values[-1] <= unlimited.expected_net_value.sum()
    assert set(unlimited.action) <= {a.name for a in DEFAULT_ACTIONS}


def test_care_contacts_go_only_to_customers_with_a_complaint() -> None:
    customers = _customers(3000, seed=1)
    plan = plan_campaign(customers, 1e9).merge(customers, on="user_id")
    assert plan[plan.action == "care_contact"].has_complaint.all()
    assert (plan.action == "care_contact").any()
    assert "churn risk" in plan.reason.iloc[0] and "expected to add" in plan.reason.iloc[0]
    # The reason's amounts are in the shop's currency where it names one.
    priced = plan_campaign(customers, 1e9, currency="GBP").reason.iloc[0]
    assert re.search(r"worth £[\d,]+\.\d\d if retained; .* for £[\d,]+\.\d\d$", priced)


@pytest.mark.parametrize("seed", range(5))
def test_value_is_close_to_the_best_possible_on_small_cases(seed: int) -> None:
    customers = _customers(6, seed=seed)
    actions = DEFAULT_ACTIONS[:3]
    p = customers.repurchase_probability.to_numpy()
    worth = customers.expected_lifetime_value.to_numpy() / np.clip(p, 0.05, 1)
    lifts = np.column_stack(
        [np.clip(AssumedUplift().uplift(a, customers), 0, 1 - p) for a in actions]
    )
    costs = np.column_stack(
        [a.fixed_cost + a.cost_if_used * np.minimum(p + lifts[:, i], 1)
         for i, a in enumerate(actions)]
    )  # fmt: skip
    net = lifts * worth[:, None] - costs
    budget = 0.4 * float(np.maximum(costs, 0).max(axis=1).sum())
    best = 0.0
    for combo in itertools.product(range(-1, len(actions)), repeat=len(customers)):
        picked = [(u, a) for u, a in enumerate(combo) if a >= 0]
        if sum(costs[u, a] for u, a in picked) <= budget:
            best = max(best, sum(net[u, a] for u, a in picked))
    plan = plan_campaign(customers, budget, actions=actions)
    assert plan.expected_net_value.sum() >= 0.9 * best - 1e-9


def test_the_budget_is_spent_when_many_customers_tie() -> None:
    """Identical customers: the Lagrangian gives all or none the dear action; the rest is filled."""
    customers = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(200)],
            "repurchase_probability": 0.3,
            "expected_lifetime_value": 15.0,
        }
    )
    actions = (
        Action("message", 0.02, 0.0, 0.03),
        Action("coupon", 0.0, 15.0, 0.40),
    )
    plan = plan_campaign(customers, 100.0, actions=actions)
    coupons = plan[plan.action == "coupon"]
    assert plan.expected_cost.sum() <= 100.0 + 1e-9
    assert plan.expected_cost.sum() > 90.0  # not four-fifths of the budget left unspent
    messages = 0.02 * (200 - len(coupons))
    assert len(coupons) == int((100.0 - messages) // coupons.expected_cost.iloc[0])


def test_a_customer_is_not_offered_what_they_got_within_its_cooldown() -> None:
    """A recurring campaign: no second coupon while one is valid, one message a week."""
    now = dt.datetime(2025, 6, 30, 9)
    history = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4", "u5"],
            "action": ["coupon_5", "coupon_15", "recommendation_message",
                       "recommendation_message", "retired_action"],
            "given_at": [now - dt.timedelta(days=d) for d in (29, 31, 3, 8, 1)],
        }
    )  # fmt: skip
    blocked = cooling_down(history, now)
    assert blocked["coupon_15"] == blocked["coupon_5"] == {"u1"}  # coupons share a cooldown
    assert blocked["recommendation_message"] == {"u3"}
    assert blocked["care_contact"] == set()
    customers = _customers(3000, seed=2)
    everyone = plan_campaign(customers, 1e9)
    couponed = everyone[everyone.action.str.startswith("coupon_")].user_id.iloc[0]
    messaged = everyone[everyone.action == "recommendation_message"].user_id.iloc[0]
    recent = pd.DataFrame(
        {"user_id": [couponed, messaged], "action": ["coupon_5", "recommendation_message"],
         "given_at": [now - dt.timedelta(days=2)] * 2}
    )  # fmt: skip
    plan = plan_campaign(customers, 1e9, unavailable=cooling_down(recent, now))
    given = dict(zip(plan.user_id, plan.action, strict=True))
    assert not given.get(couponed, "").startswith("coupon_")
    assert given.get(messaged) != "recommendation_message"
    others = everyone[~everyone.user_id.isin([couponed, messaged])]
    assert len(plan) >= len(others) and plan.expected_net_value.gt(0).all()
    with pytest.raises(InvalidInputError, match="given_at"):
        cooling_down(history.drop(columns="given_at"), now)


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="budget must be a non-negative number"):
        plan_campaign(_customers(3), -1.0)
    with pytest.raises(InvalidInputError, match="lack the columns"):
        plan_campaign(pd.DataFrame({"user_id": ["a"]}), 10.0)
    assert plan_campaign(_customers(0), 10.0).empty


def test_t_learner_finds_who_responds_and_the_plan_follows_it() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    history = pd.DataFrame({"x": rng.normal(size=n), "noise": rng.normal(size=n)})
    treated = rng.random(n) < 0.5
    base = 0.2 + 0.1 * (history.noise > 0)
    true_uplift = np.where(history.x > 0, 0.2, 0.0)
    bought = rng.random(n) < base + treated * true_uplift
    model = TLearnerUplift(["x", "noise"]).fit("coupon_15", history, treated, bought)
    coupon = next(a for a in DEFAULT_ACTIONS if a.name == "coupon_15")
    estimated = model.uplift(coupon, history)
    assert estimated[history.x > 0.3].mean() > 0.15
    assert abs(estimated[history.x < -0.3].mean()) < 0.05
    # The plan built on measured uplift earns more, judged by the true uplift, than the prior.
    customers = _customers(2000, seed=4).assign(x=rng.normal(size=2000), noise=0.0)
    only_coupon = (Action("coupon_15", 0.0, 15.0, 0.12),)
    worth = customers.set_index("user_id").eval("expected_lifetime_value / repurchase_probability")

    def true_value(plan: pd.DataFrame) -> float:
        rows = customers.set_index("user_id").loc[plan.user_id]
        lift = np.where(rows.x > 0, 0.2, 0.0).clip(0, 1 - rows.repurchase_probability)
        cost = 15.0 * np.minimum(rows.repurchase_probability + lift, 1.0)
        return float((lift * worth.loc[plan.user_id] - cost).sum())

    budget = 3000.0
    measured = plan_campaign(customers, budget, actions=only_coupon, uplift=model)
    assumed = plan_campaign(customers, budget, actions=only_coupon)
    assert true_value(measured) > max(true_value(assumed), 0.0)


def test_a_shops_own_coupons_wait_out_the_coupons_given_before() -> None:
    """Replacing the built-in coupons must not hand a second coupon to last week's customers."""
    now = dt.datetime(2026, 3, 1)
    own = (
        Action("coupon_40", 0.0, 40.0, 0.08, cooldown_days=30, kind="coupon"),
        Action("vip_call", 2.0, 0.0, 0.05, cooldown_days=14, kind="call"),
    )
    history = pd.DataFrame(
        {"user_id": ["u1", "u2", "u3", "u4", "u5"],
         "action": ["coupon_15", "coupon_40", "weekend_sms", "retired_offer", "coupon_40"],
         "given_at": [now - dt.timedelta(days=d) for d in (5, 40, 3, 2, 10)],
         "kind": [None, "coupon", None, "call", "voucher"]}
    )  # fmt: skip
    blocked = cooling_down(history, now, own)
    # u1's coupon_15 is a coupon by the built-in kinds; u4's stored kind counts even
    # though no action of that name is configured any more; u5's coupon_40 was of
    # another kind when it was given, so it does not block today's coupons.
    assert blocked == {"coupon_40": {"u1"}, "vip_call": {"u4"}}
    without_kinds = cooling_down(history.drop(columns="kind"), now, own)
    assert without_kinds == {"coupon_40": {"u1", "u5"}, "vip_call": set()}


def test_coupons_too_small_for_the_shop_are_named_only_when_all_are() -> None:
    coupons = [a for a in DEFAULT_ACTIONS if a.cost_if_used > 0]
    assert small_offers(DEFAULT_ACTIONS, 400.0) == coupons  # a wholesaler: 5 and 15 off 400
    assert small_offers(DEFAULT_ACTIONS, 200.0) == []  # 15 off 200 is a fair coupon
    assert small_offers(DEFAULT_ACTIONS, None) == small_offers(DEFAULT_ACTIONS, 0.0) == []
    no_coupons = [a for a in DEFAULT_ACTIONS if a.cost_if_used == 0]
    assert small_offers(no_coupons, 400.0) == []
