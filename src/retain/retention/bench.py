"""``retain bench retention``: policies compared in the simulated shop at equal budget.

Protocol, per seed: simulate the shop's history (:mod:`retain.retention.simulator`);
on the decision day each policy chooses actions with the same budget; the
next 90 days are simulated once per policy from the same state and the same
random numbers. Policies:

* ``no_action``;
* ``random_coupons``: 15-off coupons to random past customers;
* ``rfm_heuristic``: 15-off coupons to the RFM segments that are slipping
  (can't lose them, at risk, need attention, about to sleep), biggest spenders
  first;
* ``retain``: the full loop available today — the history is ingested into a
  store, ``BehaviourModel`` scores every customer, complaints are read from
  conversations and reviews, the uplift of a 15-off coupon is learned from
  the shop's past experiment (the simulator's pilot, which every policy
  lived through) with :class:`TLearnerUplift`, :func:`plan_campaign`
  chooses coupons, recommendation messages and care contacts, and each
  message carries the customer's top ``MESSAGE_ITEMS`` from a
  :class:`Recommender` trained on the shop's events (item text off: the
  simulated titles carry no meaning; SASRec training capped at 60 s).

The simulator rewards a message by the share of its items from the
customer's favourite category. The result reports that share for
Retain's picks beside the simplest alternative, items from the category the
customer bought most (``message_relevance``).

Equal budget: ``retain`` plans within ``budget`` of expected cost; the
heuristics, which have no per-customer purchase probability, get as many
coupons as the budget buys at the shop's recent repurchase rate. Realised
spend of every arm is reported. Metrics: 90-day retention (share of past
customers who buy in the 90 days) and revenue per customer net of what the
actions cost; mean and 95% t-interval over seeds, and the paired difference
of ``retain`` against each baseline.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from retain.data.ingest import ingest_arrow
from retain.data.store import Store
from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables, customer_features, purchase_outcomes
from retain.predict.scoring import train_and_score
from retain.recommend.recommender import Recommender, RecommendSettings
from retain.recommend.sasrec import SASRecConfig
from retain.retention.campaign import recent_complaints
from retain.retention.policy import DEFAULT_ACTIONS, TLearnerUplift, plan_campaign
from retain.retention.segments import rfm_segments
from retain.retention.simulator import ShopSimulator, SimulatorConfig, Treatment

__all__ = ["run_retention_benchmark"]

_SLIPPING = ("can't lose them", "at risk", "need attention", "about to sleep")
_COUPON = 15.0
#: Items in one recommendation message.
MESSAGE_ITEMS = 4
_FIXED = {a.name: a.fixed_cost for a in DEFAULT_ACTIONS}


def _store_for(shop: ShopSimulator) -> Store:
    store = Store.open("duckdb://:memory:")
    for table, data in shop.tables().items():
        ingest_arrow(store, table, data, source=f"simulator-{table}")
    return store


def _customers(shop: ShopSimulator) -> list[int]:
    return sorted({o["customer"] for o in shop.log.orders})


def _recent_rate(shop: ShopSimulator, days: int = 90) -> float:
    customers = _customers(shop)
    recent = {o["customer"] for o in shop.log.orders if o["day"] >= shop.day - days}
    return max(len(recent & set(customers)) / max(len(customers), 1), 0.01)


def _coupon_count(shop: ShopSimulator, budget: float) -> int:
    return int(budget / (_COUPON * _recent_rate(shop)))


def _random_coupons(shop: ShopSimulator, budget: float, seed: int) -> Treatment:
    customers = _customers(shop)
    count = min(_coupon_count(shop, budget), len(customers))
    chosen = np.random.default_rng(seed).choice(customers, count, replace=False)
    return Treatment(coupons={int(c): _COUPON for c in chosen})


def _rfm_heuristic(shop: ShopSimulator, store: Store) -> list[int]:
    """Past customers in the slipping segments, most urgent segment and biggest spenders first."""
    tables = FeatureTables.from_store(store)
    last = max(o["day"] for o in shop.log.orders)
    segments = tables.fetch(rfm_segments(tables, shop.date_of(last)))
    slipping = segments[segments.segment.isin(_SLIPPING)]
    order = slipping.assign(rank=slipping.segment.map({s: i for i, s in enumerate(_SLIPPING)}))
    order = order.sort_values(["rank", "monetary"], ascending=[True, False])
    return [int(u[1:]) for u in order.user_id]


_UPLIFT_FEATURES = (
    "x", "recency", "T", "monetary_mean", "ipt_mean", "recent_13w", "event_recency", "views",
    "support_contacts", "returns",
)  # fmt: skip


def _pilot_uplift(shop: ShopSimulator, tables: FeatureTables) -> TLearnerUplift | None:
    """Uplift of a 15-off coupon learned from the shop's past experiment (the pilot)."""
    if shop.pilot_day is None or not shop.pilot:
        return None
    before = shop.date_of(shop.pilot_day - 1)
    after = shop.date_of(min(shop.pilot_day + 89, shop.day - 1))
    features = tables.fetch(customer_features(tables, before))
    outcome = tables.fetch(purchase_outcomes(tables.orders, before, after))
    frame = features.merge(outcome, on="user_id", how="left").fillna({"purchases": 0.0})
    treated = np.array([shop.pilot.get(int(u[1:]), False) for u in frame.user_id])
    action = f"coupon_{int(shop.config.pilot_coupon)}"
    try:
        return TLearnerUplift(_UPLIFT_FEATURES).fit(action, frame, treated, frame.purchases > 0)
    except InvalidInputError:
        return None  # a pilot too small to learn from: the stated prior stands


def _retain_policy(
    shop: ShopSimulator, store: Store, budget: float
) -> tuple[Treatment, dict[str, float]]:
    """The full loop's treatment, and how relevant its message picks were."""
    with tempfile.TemporaryDirectory(prefix="retain-bench-") as folder:
        trained = train_and_score(store, Path(folder), horizon_days=90)
    scores = store.query_df("SELECT * FROM user_scores")
    tables = FeatureTables.from_store(store)
    complained = recent_complaints(tables, trained.cutoff)
    current = tables.fetch(customer_features(tables, trained.cutoff))
    customers = scores.merge(current[["user_id", *_UPLIFT_FEATURES]], on="user_id", how="left")
    customers = customers.assign(has_complaint=customers.user_id.isin(complained))
    plan = plan_campaign(customers, budget, uplift=_pilot_uplift(shop, tables))
    treatment = Treatment()
    messaged: list[str] = []
    for user_id, action in zip(plan.user_id.astype(str), plan.action.astype(str), strict=True):
        customer = int(user_id[1:])
        if action.startswith("coupon_"):
            treatment.coupons[customer] = float(action.split("_")[1])
        elif action == "recommendation_message":
            messaged.append(user_id)
        elif action == "care_contact":
            treatment.care.add(customer)
    if messaged:
        recommender = _recommender(store)
        for answer in recommender.recommend_many(messaged, k=MESSAGE_ITEMS):
            items = [int(r.item_id[1:]) for r in answer.items]
            treatment.messages[int(str(answer.user_id)[1:])] = items
    return treatment, _message_relevance(shop, treatment)


def _recommender(store: Store) -> Recommender:
    settings = RecommendSettings(text_model=None, sasrec=SASRecConfig(max_seconds=60.0))
    events = store.query_arrow("SELECT * FROM events")
    return Recommender(settings).fit(events, store.query_arrow("SELECT * FROM items"))


def _message_relevance(shop: ShopSimulator, treatment: Treatment) -> dict[str, float]:
    """Mean relevance of the messages' items, and of items from the most-bought category."""
    if not treatment.messages:
        return {"retain": float("nan"), "most_bought_category": float("nan"), "messages": 0.0}
    bought = Counter((o["customer"], shop.category(o["item"])) for o in shop.log.orders)
    favourite: dict[int, int] = {}
    for (customer, category), _ in bought.most_common():
        favourite.setdefault(customer, category)
    per_category = shop.config.items_per_category
    customers = list(treatment.messages)
    ours = [shop.relevance(c, treatment.messages[c]) for c in customers]
    guessed = [shop.relevance(c, [favourite.get(c, 0) * per_category]) for c in customers]
    return {
        "retain": float(np.mean(ours)),
        "most_bought_category": float(np.mean(guessed)),
        "messages": float(len(customers)),
    }


def _fixed_costs(treatment: Treatment) -> float:
    return (
        len(treatment.messages) * _FIXED["recommendation_message"]
        + len(treatment.care) * _FIXED["care_contact"]
    )


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


def run_retention_benchmark(
    *,
    seeds: int = 5,
    customers: int = 3000,
    budget_per_customer: float = 1.0,
    first_seed: int = 0,
) -> dict[str, Any]:
    """Compare the four policies over ``seeds`` simulated shops."""
    if seeds < 2:
        raise InvalidInputError(f"need at least 2 seeds for an interval; got {seeds}")
    config = SimulatorConfig(customers=customers)
    per_arm: dict[str, dict[str, list[float]]] = {}
    message_relevance: dict[str, list[float]] = {}
    started = time.perf_counter()
    for seed in range(first_seed, first_seed + seeds):
        shop = ShopSimulator(config, seed=seed)
        shop.run_history()
        past = len(_customers(shop))
        budget = budget_per_customer * past
        with _store_for(shop) as store:
            ranked = _rfm_heuristic(shop, store)
            rfm = Treatment(coupons={c: _COUPON for c in ranked[: _coupon_count(shop, budget)]})
            treatments = {
                "no_action": Treatment(),
                "random_coupons": _random_coupons(shop, budget, seed),
                "rfm_heuristic": rfm,
            }
            treatments["retain"], relevance = _retain_policy(shop, store, budget)
        for key, value in relevance.items():
            message_relevance.setdefault(key, []).append(value)
        for arm, treatment in treatments.items():
            outcome = shop.future(treatment)
            cost = outcome["coupon_spend"] + _fixed_costs(treatment)
            record = per_arm.setdefault(arm, {})
            actions = len(treatment.coupons) + len(treatment.messages) + len(treatment.care)
            for key, value in (
                ("retention_90d", outcome["retention_90d"]),
                ("revenue_per_user", (outcome["revenue"] - cost) / outcome["customers"]),
                ("spend", cost),
                ("budget", budget),
                ("actions", float(actions)),
            ):
                record.setdefault(key, []).append(value)
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
        "metrics": {k: v["mean"] for k, v in summary["retain"].items()},
        "baselines": {
            arm: {k: v["mean"] for k, v in record.items()}
            for arm, record in summary.items()
            if arm != "retain"
        },
        "intervals": summary,
        "retain_minus_baseline": differences,
        "message_relevance": {k: _mean_known(v) for k, v in message_relevance.items()},
        "seconds": time.perf_counter() - started,
    }
