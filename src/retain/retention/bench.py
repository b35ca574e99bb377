"""``retain bench retention``: policies compared in the simulated shop at equal budget.

Protocol, per seed: simulate the shop's history (:mod:`retain.retention.simulator`);
from the decision day on, each policy runs a campaign every ``every_days``
days for 90 days (by default weekly: 13 rounds, as a shop runs a recurring
campaign; ``every_days=None`` decides once, on the decision day). Every
policy lives through the same 90 days from the same state and random
numbers. Policies:

* ``no_action``;
* ``random_coupons``: 15-off coupons to random past customers;
* ``rfm_heuristic``: 15-off coupons to the RFM segments that are slipping
  (can't lose them, at risk, need attention, about to sleep), biggest spenders
  first, segments recomputed each round;
* ``newsletter_rfm``: every round a message with the shop's four best-selling
  items of the last 30 days to every past customer, and ``rfm_heuristic``'s
  coupons with what is left of the round's budget;
* ``retain``: the full loop available today — each round the shop's data so
  far is ingested into a store, ``BehaviourModel`` is retrained and scores
  every customer, complaints are read from conversations and reviews, and
  :func:`plan_campaign` chooses coupons, recommendation messages and care
  contacts. The uplift of a 15-off coupon is learned once from the shop's
  past experiment (the simulator's pilot, which every policy lived through,
  stored as a campaign with a control group) by :func:`learned_uplift`, as
  ``retain campaign`` learns from past campaigns. Each message carries the
  customer's top ``MESSAGE_ITEMS`` from a :class:`Recommender` trained on
  the shop's events on the decision day (item text off: the simulated
  titles carry no meaning; SASRec stops on its validation patience, with
  a 600 s cap that a seed on this machine does not reach, so a busy machine
  gives the same picks).

Beside them, not a baseline: ``hidden_state_reference``, plain rules that
read what no shop can see — who is still a customer, their true favourite
category, how they respond to coupons (:func:`_hidden_state_reference`).
It shows how much room the simulator leaves above the heuristics, so a
bar such as "2 points over the best heuristic" can be judged against what
knowing everything would give; ``share_of_reference_gain`` is Retain's
gain over no action as a share of the reference's.

Every policy keeps the same contact rules (:func:`cooling_down`): no coupon
to a customer who got one in the last 30 days, no second message within 7
days, no second care contact within 30.

The simulator rewards a message by the share of its items from the
customer's favourite category. The result reports that share for
Retain's picks beside the simplest alternative, items from the category the
customer bought most (``message_relevance``).

Equal budget: the budget (``budget_per_customer`` times the past customers)
is spread evenly over the rounds. ``retain`` plans each round within its
share in expected cost; the heuristics, which have no per-customer purchase
probability, get as many coupons as the share buys at the shop's recent
repurchase rate (after the newsletter's messages). Realised spend of every
arm is reported: coupons used, 0.02 per message delivered, 3 per care
contact. Metrics: 90-day retention (share of past customers who buy in the
90 days) and revenue per customer net of that spend; mean and 95%
t-interval over seeds, and the paired difference of ``retain`` against each
baseline.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from retain.data.ingest import ingest_arrow
from retain.data.store import Store
from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables
from retain.predict.scoring import train_and_score
from retain.recommend.recommender import Recommender, RecommendSettings
from retain.recommend.sasrec import SASRecConfig
from retain.retention.campaign import (
    INTERVENTIONS_TABLE,
    learned_uplift,
    recent_complaints,
    with_uplift_features,
)
from retain.retention.policy import DEFAULT_ACTIONS, TLearnerUplift, cooling_down, plan_campaign
from retain.retention.segments import rfm_segments
from retain.retention.simulator import Policy, ShopSimulator, SimulatorConfig, Treatment

__all__ = ["run_retention_benchmark"]

_SLIPPING = ("can't lose them", "at risk", "need attention", "about to sleep")
_COUPON = 15.0
#: Items in one recommendation message.
MESSAGE_ITEMS = 4
_FIXED = {a.name: a.fixed_cost for a in DEFAULT_ACTIONS}
#: The arm that reads the simulator's hidden state: reported, never a baseline.
REFERENCE = "hidden_state_reference"


def _store_for(shop: ShopSimulator) -> Store:
    """The shop's data so far in a fresh store, with its past experiment as a campaign."""
    store = Store.open("duckdb://:memory:")
    for table, data in shop.tables().items():
        ingest_arrow(store, table, data, source=f"simulator-{table}")
    if shop.pilot_day is not None and shop.pilot:
        given = dt.datetime.combine(shop.date_of(shop.pilot_day), dt.time(9))
        store.write_table(
            INTERVENTIONS_TABLE,
            pd.DataFrame(
                {
                    "campaign_id": "pilot",
                    "user_id": [shop.user_id(c) for c in shop.pilot],
                    "action": f"coupon_{shop.config.pilot_coupon:g}",
                    "created_at": given,
                    "variant": ["treatment" if t else "control" for t in shop.pilot.values()],
                }
            ),
        )
    return store


def _customers(shop: ShopSimulator) -> list[int]:
    return sorted({o["customer"] for o in shop.log.orders})


def _recent_rate(shop: ShopSimulator, days: int = 90) -> float:
    customers = _customers(shop)
    recent = {o["customer"] for o in shop.log.orders if o["day"] >= shop.day - days}
    return max(len(recent & set(customers)) / max(len(customers), 1), 0.01)


def _rfm_ranking(shop: ShopSimulator, store: Store) -> list[int]:
    """Past customers in the slipping segments, most urgent segment and biggest spenders first."""
    tables = FeatureTables.from_store(store)
    last = max(o["day"] for o in shop.log.orders)
    segments = tables.fetch(rfm_segments(tables, shop.date_of(last)))
    slipping = segments[segments.segment.isin(_SLIPPING)]
    order = slipping.assign(rank=slipping.segment.map({s: i for i, s in enumerate(_SLIPPING)}))
    order = order.sort_values(["rank", "monetary"], ascending=[True, False])
    return [int(u[1:]) for u in order.user_id]


def _recent_sales(shop: ShopSimulator, days: int = 30) -> Counter[int]:
    """Orders per item over the last ``days``."""
    return Counter(o["item"] for o in shop.log.orders if o["day"] >= shop.day - days)


def _bestsellers(sales: Counter[int]) -> list[int]:
    """The most bought items (the newsletter's picks)."""
    return [item for item, _ in sales.most_common(MESSAGE_ITEMS)]


def _most_bought_category(shop: ShopSimulator) -> dict[int, int]:
    """Per past customer, the category of most of their orders."""
    bought = Counter((o["customer"], shop.category(o["item"])) for o in shop.log.orders)
    favourite: dict[int, int] = {}
    for (customer, category), _ in bought.most_common():
        favourite.setdefault(customer, category)
    return favourite


def _category_bestsellers(
    shop: ShopSimulator, sales: Counter[int], fallback: list[int]
) -> dict[int, list[int]]:
    """Per past customer, the best sellers in the category they buy most (else ``fallback``)."""
    by_category: dict[int, list[int]] = {}
    for item, _ in sales.most_common():
        by_category.setdefault(shop.category(item), []).append(item)
    return {
        customer: by_category.get(category, fallback)[:MESSAGE_ITEMS]
        for customer, category in _most_bought_category(shop).items()
    }


@dataclass
class _Campaigns:
    """One arm's recurring campaign: its budget, its rounds, and what it gave whom."""

    budget: float
    rounds: int
    given: list[tuple[str, str, int]] = field(default_factory=list)  # user, action, day
    rounds_done: int = 0

    def allowance(self, shop: ShopSimulator) -> float:
        """This round's share of what is left: what earlier rounds did not spend carries over."""
        left = self.budget - _spend(shop.coupon_spend, shop.messages_sent, shop.care_contacts)
        share = max(left, 0.0) / max(self.rounds - self.rounds_done, 1)
        self.rounds_done += 1
        return share

    def unavailable(self, shop: ShopSimulator) -> dict[str, set[str]]:
        """Per action, the customers (user ids) still cooling down from what this arm gave."""
        history = pd.DataFrame(self.given, columns=["user_id", "action", "day"])
        history["given_at"] = pd.to_datetime([shop.date_of(d) for d in history.day])
        return cooling_down(history, pd.Timestamp(shop.date_of(shop.day)).to_pydatetime())

    def record(self, shop: ShopSimulator, treatment: Treatment) -> Treatment:
        """Remember what ``treatment`` gives today (for the cooldowns) and pass it on."""
        day = shop.day
        self.given += [
            (shop.user_id(c), f"coupon_{v:g}", day) for c, v in treatment.coupons.items()
        ]
        self.given += [(shop.user_id(c), "recommendation_message", day) for c in treatment.messages]
        self.given += [(shop.user_id(c), "care_contact", day) for c in treatment.care]
        return treatment

    def coupons(self, shop: ShopSimulator, ranked: list[int], allowance: float) -> Treatment:
        """15-off coupons down ``ranked``, as many as ``allowance`` buys at the recent rate."""
        blocked = self.unavailable(shop)["coupon_15"]
        count = int(max(allowance, 0.0) / (_COUPON * _recent_rate(shop)))
        chosen = [c for c in ranked if shop.user_id(c) not in blocked][:count]
        return Treatment(coupons=dict.fromkeys(chosen, _COUPON))


def _random_coupons(arm: _Campaigns, seed: int) -> Policy:
    def decide(shop: ShopSimulator) -> Treatment:
        customers = np.array(_customers(shop))
        ranked = np.random.default_rng([seed, shop.day]).permutation(customers).tolist()
        return arm.record(shop, arm.coupons(shop, ranked, arm.allowance(shop)))

    return decide


def _rfm_coupons(arm: _Campaigns) -> Policy:
    def decide(shop: ShopSimulator) -> Treatment:
        with _store_for(shop) as store:
            ranked = _rfm_ranking(shop, store)
        return arm.record(shop, arm.coupons(shop, ranked, arm.allowance(shop)))

    return decide


def _newsletter_rfm(arm: _Campaigns, per_category: bool = False) -> Policy:
    def decide(shop: ShopSimulator) -> Treatment:
        sales = _recent_sales(shop)
        items = _bestsellers(sales)
        personal = _category_bestsellers(shop, sales, items) if per_category else {}
        blocked = arm.unavailable(shop)["recommendation_message"]
        readers = [c for c in _customers(shop) if shop.user_id(c) not in blocked]
        with _store_for(shop) as store:
            ranked = _rfm_ranking(shop, store)
        left = arm.allowance(shop) - len(readers) * _FIXED["recommendation_message"]
        treatment = arm.coupons(shop, ranked, left)
        treatment.messages = {c: personal.get(c, items) for c in readers}
        return arm.record(shop, treatment)

    return decide


def _hidden_state_reference(arm: _Campaigns) -> Policy:
    """What knowing the simulator's hidden state is worth (a yardstick, not a policy a shop has).

    Each round: a message with items from the customer's true favourite
    category to every past customer not cooling down; a care contact to
    every living customer with an open complaint; with what is left of the
    round's budget, 15-off coupons to living customers who have not bought
    since the decision day, most extra chance of a purchase per expected
    coupon cost first (from their true visit rate, chance to buy and coupon
    sensitivity over the coupon's days, with the message's lift). It is not
    the best policy there is, only what plain rules do when they can see
    what a shop never can: who is still there and what they like.
    """

    def decide(shop: ShopSimulator) -> Treatment:
        c = shop.config
        allowance = arm.allowance(shop)
        blocked = arm.unavailable(shop)
        past = np.asarray(_customers(shop), dtype=np.int64)
        treatment = Treatment()
        for customer in past.tolist():
            if shop.user_id(customer) not in blocked["recommendation_message"]:
                first = int(shop.taste[customer]) * c.items_per_category
                treatment.messages[customer] = list(range(first, first + MESSAGE_ITEMS))
        complained = past[shop.alive[past] & (shop.complaint_until[past] >= shop.day)]
        treatment.care = {
            int(u) for u in complained if shop.user_id(int(u)) not in blocked["care_contact"]
        }
        allowance -= len(treatment.messages) * _FIXED["recommendation_message"]
        allowance -= len(treatment.care) * _FIXED["care_contact"]
        # The futures start on the decision day, where the history ends.
        returned = {o["customer"] for o in shop.log.orders if o["day"] >= c.history_days}
        open_ = [
            int(u) for u in past[shop.alive[past]]
            if int(u) not in returned and shop.user_id(int(u)) not in blocked["coupon_15"]
        ]  # fmt: skip
        who = np.asarray(open_, dtype=np.int64)
        daily = np.minimum(shop.visit_rate[who] * c.relevant_message_lift, 1.0)
        boost = 1.0 + shop.coupon_sensitivity[who] * _COUPON / 10.0
        without = 1.0 - np.exp(-daily * shop.buy_on_visit[who] * c.coupon_days)
        chance = np.minimum(shop.buy_on_visit[who] * boost, 1.0)
        with_coupon = 1.0 - np.exp(-daily * chance * c.coupon_days)
        cost = _COUPON * with_coupon
        for index in np.argsort(-(with_coupon - without) / np.maximum(cost, 1e-9)):
            if cost[index] > allowance:
                break
            allowance -= cost[index]
            treatment.coupons[int(who[index])] = _COUPON
        return arm.record(shop, treatment)

    return decide


class _RetainLoop:
    """The full loop, one campaign per round: retrain, score, plan within the round's budget."""

    def __init__(self, arm: _Campaigns) -> None:
        self.arm = arm
        self.uplift: TLearnerUplift | None = None
        self.picks: dict[str, list[int]] = {}
        self.messaged: set[int] = set()
        self._ready = False

    def _prepare(self, shop: ShopSimulator, store: Store) -> None:
        """On the decision day: learn coupon uplift from the pilot, train the recommender."""
        self.uplift = learned_uplift(store, horizon_days=90, as_of=shop.date_of(shop.day - 1))
        recommender = _recommender(store)
        users = [shop.user_id(c) for c in _customers(shop)]
        for answer in recommender.recommend_many(users, k=MESSAGE_ITEMS):
            self.picks[str(answer.user_id)] = [int(r.item_id[1:]) for r in answer.items]
        self._ready = True

    def __call__(self, shop: ShopSimulator) -> Treatment:
        with _store_for(shop) as store, tempfile.TemporaryDirectory(prefix="retain-") as folder:
            if not self._ready:
                self._prepare(shop, store)
            trained = train_and_score(store, Path(folder), horizon_days=90, check=False)
            scores = store.query_df("SELECT * FROM user_scores")
            tables = FeatureTables.from_store(store)
            complained = recent_complaints(tables, trained.cutoff)
            customers = with_uplift_features(tables, scores, trained.cutoff)
        customers = customers.assign(has_complaint=customers.user_id.isin(complained))
        plan = plan_campaign(
            customers,
            self.arm.allowance(shop),
            uplift=self.uplift,
            unavailable=self.arm.unavailable(shop),
        )
        treatment = Treatment()
        for user_id, action in zip(plan.user_id.astype(str), plan.action.astype(str), strict=True):
            customer = int(user_id[1:])
            if action.startswith("coupon_"):
                treatment.coupons[customer] = float(action.split("_")[1])
            elif action == "recommendation_message" and user_id in self.picks:
                treatment.messages[customer] = self.picks[user_id]
            elif action == "care_contact":
                treatment.care.add(customer)
        self.messaged |= set(treatment.messages)
        return self.arm.record(shop, treatment)


def _recommender(store: Store) -> Recommender:
    # Stopped by its validation patience (seed 0: 30 epochs, 25 s here), not by the clock:
    # a time cap that binds under load would make the same seed give other picks.
    settings = RecommendSettings(text_model=None, sasrec=SASRecConfig(max_seconds=600.0))
    events = store.query_arrow("SELECT * FROM events")
    return Recommender(settings).fit(events, store.query_arrow("SELECT * FROM items"))


def _message_relevance(shop: ShopSimulator, loop: _RetainLoop) -> dict[str, float]:
    """Mean relevance of the items Retain sent, and of items from the most-bought category."""
    customers = sorted(loop.messaged)
    if not customers:
        return {"retain": float("nan"), "most_bought_category": float("nan"), "messages": 0.0}
    favourite = _most_bought_category(shop)
    per_category = shop.config.items_per_category
    ours = [shop.relevance(c, loop.picks[shop.user_id(c)]) for c in customers]
    guessed = [shop.relevance(c, [favourite.get(c, 0) * per_category]) for c in customers]
    return {
        "retain": float(np.mean(ours)),
        "most_bought_category": float(np.mean(guessed)),
        "messages": float(len(customers)),
    }


def _share_of_gain(
    ours: dict[str, list[float]], reference: dict[str, list[float]], nothing: dict[str, list[float]]
) -> float | None:
    """Retain's gain in retention over no action as a share of the hidden-state reference's."""
    gain = np.mean(np.subtract(reference["retention_90d"], nothing["retention_90d"]))
    if gain <= 0:
        return None
    return float(np.mean(np.subtract(ours["retention_90d"], nothing["retention_90d"])) / gain)


def _mean_known(values: list[float]) -> float | None:
    """The mean of the values that are not NaN (a seed without messages has none); else None."""
    known = [v for v in values if not np.isnan(v)]
    return float(np.mean(known)) if known else None


def _summary(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    half = (
        float(stats.t.ppf(0.975, len(array) - 1) * array.std(ddof=1) / np.sqrt(len(array)))
        if len(array) > 1
        else float("nan")
    )
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half}


def _spend(coupons_used: float, messages: float, care_contacts: float) -> float:
    """What a policy spent: coupons used, plus the fixed cost of messages and care contacts."""
    return (
        coupons_used
        + messages * _FIXED["recommendation_message"]
        + care_contacts * _FIXED["care_contact"]
    )


def run_retention_benchmark(
    *,
    seeds: int = 5,
    customers: int = 3000,
    budget_per_customer: float = 1.0,
    first_seed: int = 0,
    every_days: int | None = 7,
    days: int = 90,
) -> dict[str, Any]:
    """Compare the policies over ``seeds`` simulated shops (see the module docstring)."""
    if seeds < 2:
        raise InvalidInputError(f"need at least 2 seeds for an interval; got {seeds}")
    if every_days is not None and not 1 <= every_days <= days:
        raise InvalidInputError(f"every_days must be between 1 and {days}; got {every_days}")
    rounds = 1 if every_days is None else math.ceil(days / every_days)
    config = SimulatorConfig(customers=customers)
    per_arm: dict[str, dict[str, list[float]]] = {}
    message_relevance: dict[str, list[float]] = {}
    started = time.perf_counter()
    for seed in range(first_seed, first_seed + seeds):
        shop = ShopSimulator(config, seed=seed)
        shop.run_history()
        budget = budget_per_customer * len(_customers(shop))
        loop = _RetainLoop(_Campaigns(budget, rounds))
        policies: dict[str, Treatment | Policy] = {
            "no_action": Treatment(),
            "random_coupons": _random_coupons(_Campaigns(budget, rounds), seed),
            "rfm_heuristic": _rfm_coupons(_Campaigns(budget, rounds)),
            "newsletter_rfm": _newsletter_rfm(_Campaigns(budget, rounds)),
            "category_newsletter_rfm": _newsletter_rfm(_Campaigns(budget, rounds), True),
            "retain": loop,
            REFERENCE: _hidden_state_reference(_Campaigns(budget, rounds)),
        }
        for name, policy in policies.items():
            outcome = shop.future(policy, days=days, every_days=every_days)
            cost = _spend(
                outcome["coupon_spend"], outcome["messages_sent"], outcome["care_contacts"]
            )
            record = per_arm.setdefault(name, {})
            for key, value in (
                ("retention_90d", outcome["retention_90d"]),
                ("revenue_per_user", (outcome["revenue"] - cost) / outcome["customers"]),
                ("spend", cost),
                ("budget", budget),
                ("messages", outcome["messages_sent"]),
            ):
                record.setdefault(key, []).append(value)
        for key, value in _message_relevance(shop, loop).items():
            message_relevance.setdefault(key, []).append(value)
    summary = {
        arm: {key: _summary(values) for key, values in record.items()}
        for arm, record in per_arm.items()
    }
    ours = per_arm["retain"]
    differences = {
        arm: {
            key: _summary(list(np.subtract(ours[key], per_arm[arm][key])))
            for key in ("retention_90d", "revenue_per_user")
        }
        for arm in per_arm
        if arm != "retain"
    }
    return {
        "benchmark": "retention",
        "protocol": __doc__.split("\n\n", 1)[1] if __doc__ else "",
        "seeds": list(range(first_seed, first_seed + seeds)),
        "customers": customers,
        "budget_per_customer": budget_per_customer,
        "every_days": every_days,
        "rounds": rounds,
        "metrics": {k: v["mean"] for k, v in summary["retain"].items()},
        "baselines": {
            arm: {k: v["mean"] for k, v in record.items()}
            for arm, record in summary.items()
            if arm not in ("retain", REFERENCE)
        },
        "reference": {REFERENCE: {k: v["mean"] for k, v in summary[REFERENCE].items()}},
        "share_of_reference_gain": _share_of_gain(
            per_arm["retain"], per_arm[REFERENCE], per_arm["no_action"]
        ),
        "intervals": summary,
        "per_seed": per_arm,
        "retain_minus_baseline": differences,
        "message_relevance": {k: _mean_known(v) for k, v in message_relevance.items()},
        "seconds": time.perf_counter() - started,
    }
