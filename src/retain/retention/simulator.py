"""A seeded shop whose customers respond to what the shop does.

It exists to compare retention policies, which no offline log can do: a
policy's effect is only seen by acting. Its assumptions, all in
:class:`SimulatorConfig` and stated here so a reader can judge them:

* **Customers** arrive uniformly over ``acquisition_days`` (by default the
  whole history: the shop keeps acquiring up to the decision day) and buy on
  the day they arrive. Each has a latent favourite category, a visit rate (about one
  visit in 16 days on average, Gamma-distributed), a chance to buy when
  visiting (Beta, mean 0.25), a basket size (log-normal, mean about 37), a
  daily churn hazard (Beta, mean about 1%: an average customer stays about
  100 days) and a coupon sensitivity (Beta, mean 0.4). Churn is permanent.
* **Experience**: each order goes wrong with probability
  ``bad_experience_rate``; the customer then opens a support conversation and
  half the time writes a 1-2 star review. An unresolved complaint multiplies
  the churn hazard by ``complaint_churn_multiplier`` for ``complaint_days``.
* **Actions** taken on the decision day, or by a policy that decides again
  every few days (a recurring campaign, :meth:`ShopSimulator.future`):
  - a coupon of value ``v`` for ``coupon_days``: the chance to buy on a visit
    is multiplied by ``1 + sensitivity * v / 10`` and the churn hazard by
    ``coupon_churn_factor``; it costs ``v`` only when used;
  - a recommendation message (a few items): for ``message_days`` the visit
    rate is multiplied by ``irrelevant_message_lift`` plus
    ``relevant_message_lift - irrelevant_message_lift`` times the share of
    its items from the customer's favourite category, so picks that match
    the customer's taste bring them back more often;
  - a care contact resolves an open complaint (the hazard returns to normal).
  A new coupon replaces one the customer still holds; a new message restarts
  the ``message_days``. Each message delivered makes the customer
  unsubscribe with probability ``unsubscribe_rate`` (typical e-mail rates are
  0.1-0.5%); later messages to them are not delivered (and cost nothing).
  Beyond that no fatigue is modelled: a message every week keeps the visit
  rate up for as long as they keep coming, so a policy's gain from frequent
  messages is an upper bound on what a real inbox would give.
* **A past experiment**: ``pilot_days_before_decision`` days before the
  decision day a random ``pilot_share`` of customers got a coupon — the A/B
  test a shop would have run once; policies may learn uplift from it.
* Nothing else changes over time: no seasonality, no competitors, no price
  changes. Common random numbers: every policy's future is drawn from the
  same seed, and every day draws the same numbers for each customer whatever
  happens, so acting on one customer changes no other customer's luck and the
  difference between two policies is their effect, not sampling noise of the
  shop itself.

The history is emitted as canonical tables (items, users, events, orders,
reviews, conversations), so the real pipeline trains on it.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["Policy", "ShopSimulator", "SimulatorConfig", "Treatment"]

IntArray = npt.NDArray[np.int64]
_REVIEW_TEXT = {True: "arrived broken, very disappointed", False: "good, as described"}


@dataclass(frozen=True)
class SimulatorConfig:
    """The simulator's assumptions (see the module docstring)."""

    customers: int = 3000
    history_days: int = 270
    acquisition_days: int = 270
    categories: int = 8
    items_per_category: int = 25
    bad_experience_rate: float = 0.08
    complaint_churn_multiplier: float = 3.0
    complaint_days: int = 30
    coupon_days: int = 30
    coupon_churn_factor: float = 0.7
    message_days: int = 7
    relevant_message_lift: float = 2.0
    irrelevant_message_lift: float = 1.2
    unsubscribe_rate: float = 0.003
    start: dt.date = dt.date(2025, 1, 1)
    pilot_days_before_decision: int = 120
    pilot_share: float = 0.2
    pilot_coupon: float = 15.0


@dataclass
class Treatment:
    """Actions for the decision day, by customer index."""

    coupons: dict[int, float] = field(default_factory=dict)
    messages: dict[int, list[int]] = field(default_factory=dict)  # customer -> item indices
    care: set[int] = field(default_factory=set)


#: Decides the actions of one campaign round from the shop as it is that day.
#: It should read only what a shop would know: ``shop.log``, ``shop.tables()``,
#: ``shop.day`` and the spend counters, never the latent tastes and hazards.
Policy = Callable[["ShopSimulator"], Treatment]


class _DailyDraws:
    """One day's random numbers, a fixed set per customer (see :meth:`ShopSimulator._step`)."""

    def __init__(self, rng: np.random.Generator, n: int, categories: int, per_category: int):
        self.churn = rng.random(n)
        self.visit = rng.random(n)
        self.buy = rng.random(n)
        self.favourite = rng.random(n)
        self.category = rng.integers(0, categories, n)
        self.item = rng.integers(0, per_category, n)
        self.amount = rng.lognormal(0.0, 0.3, n)
        self.bad = rng.random(n)
        self.review = rng.random(n)
        self.low_stars = rng.integers(1, 3, n)
        self.high_stars = rng.integers(4, 6, n)


@dataclass
class _Log:
    orders: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[int, int, str, int]] = field(default_factory=list)
    reviews: list[tuple[int, int, int, int]] = field(default_factory=list)
    complaints: list[tuple[int, int]] = field(default_factory=list)


class ShopSimulator:
    """Run the history with :meth:`run_history`, then :meth:`future` once per policy."""

    def __init__(self, config: SimulatorConfig | None = None, seed: int = 0) -> None:
        self.config = c = config or SimulatorConfig()
        self.seed = seed
        rng = np.random.default_rng(seed)
        n = c.customers
        self.first_day = rng.integers(0, c.acquisition_days, n)
        self.visit_rate = rng.gamma(2.0, 0.03, n)
        self.buy_on_visit = rng.beta(2.0, 6.0, n)
        self.basket = rng.lognormal(3.5, 0.5, n)
        self.churn_hazard = rng.beta(1.2, 120.0, n)
        self.taste = rng.integers(0, c.categories, n)
        self.coupon_sensitivity = rng.beta(2.0, 3.0, n)
        self.item_price = rng.lognormal(3.0, 0.6, c.categories * c.items_per_category)
        self.alive = np.ones(n, dtype=bool)
        self.complaint_until = np.full(n, -1)
        self.coupon_value = np.zeros(n)
        self.coupon_until = np.full(n, -1)
        self.message_until = np.full(n, -1)
        self.message_relevance = np.zeros(n)  # share of the message's items the customer likes
        # The message after which each customer unsubscribes (own generator: the
        # rest of the shop is drawn exactly as without it).
        self.messages_tolerated = (
            np.random.default_rng(seed + 2).geometric(c.unsubscribe_rate, n)
            if c.unsubscribe_rate > 0
            else np.full(n, np.iinfo(np.int64).max)
        )
        self.messages_received = np.zeros(n, dtype=np.int64)
        self.day = 0
        self.pilot_day: int | None = None
        self.pilot: dict[int, bool] = {}
        self.log = _Log()
        self.coupon_spend = 0.0
        self.messages_sent = 0
        self.care_contacts = 0
        self._rng = np.random.default_rng(seed + 1)

    # -- dynamics ----------------------------------------------------------------

    def _step(self, rng: np.random.Generator) -> None:
        """Simulate one day.

        Every day draws the same random numbers, one set per customer, whatever
        the customers do (exact common random numbers): a policy that acts on
        one customer changes that customer's future and no other's, so the
        difference between two policies is their effect, not a reshuffle of
        everyone's luck.
        """
        c, day = self.config, self.day
        n = c.customers
        draw = _DailyDraws(rng, n, c.categories, c.items_per_category)
        arrived = self.first_day == day
        here = self.alive & (self.first_day < day)
        complaint = self.complaint_until >= day
        coupon = (self.coupon_until >= day) & (self.coupon_value > 0)
        hazard = self.churn_hazard * np.where(complaint, c.complaint_churn_multiplier, 1.0)
        hazard = hazard * np.where(coupon, c.coupon_churn_factor, 1.0)
        self.alive &= ~(here & (draw.churn < hazard))
        here &= self.alive
        message = self.message_until >= day
        gain = c.relevant_message_lift - c.irrelevant_message_lift
        lift = np.where(message, c.irrelevant_message_lift + gain * self.message_relevance, 1.0)
        visits = here & (draw.visit < np.minimum(self.visit_rate * lift, 1.0))
        buy_chance = self.buy_on_visit * np.where(
            coupon, 1.0 + self.coupon_sensitivity * self.coupon_value / 10.0, 1.0
        )
        buys = arrived | (visits & (draw.buy < np.minimum(buy_chance, 1.0)))
        viewed = np.flatnonzero(visits | arrived)
        items = self._pick_items(draw, viewed)
        self.log.events.extend(
            (int(u), int(i), "view", day) for u, i in zip(viewed, items, strict=True)
        )
        for customer, item in zip(viewed.tolist(), items.tolist(), strict=True):
            if not buys[customer]:
                continue
            amount = float(self.basket[customer] * draw.amount[customer])
            used = coupon[customer] and not arrived[customer]
            if used:
                self.coupon_spend += self.coupon_value[customer]
                self.coupon_value[customer] = 0.0
            self.log.events.append((customer, item, "purchase", day))
            self.log.orders.append(
                {"customer": customer, "day": day, "amount": amount, "item": item, "coupon": used}
            )
            if draw.bad[customer] < c.bad_experience_rate:
                self.complaint_until[customer] = day + c.complaint_days
                self.log.complaints.append((customer, day))
                if draw.review[customer] < 0.5:
                    self.log.reviews.append((customer, item, int(draw.low_stars[customer]), day))
            elif draw.review[customer] < 0.2:
                self.log.reviews.append((customer, item, int(draw.high_stars[customer]), day))
        self.day += 1

    def _pick_items(self, draw: _DailyDraws, customers: IntArray) -> IntArray:
        """Mostly from the favourite category (80%), otherwise any."""
        c = self.config
        favourite = draw.favourite[customers] < 0.8
        category = np.where(favourite, self.taste[customers], draw.category[customers])
        return np.asarray(category * c.items_per_category + draw.item[customers], dtype=np.int64)

    def run_history(self) -> None:
        """Simulate up to the decision day (``history_days``), with one pilot experiment.

        ``pilot_days_before_decision`` days before the decision day, a random
        ``pilot_share`` of the customers so far get a coupon of
        ``pilot_coupon`` (the shop's past A/B test); :attr:`pilot` records who
        was in it and whether they were treated. Every policy sees the same
        pilot; whether it learns from it is up to the policy.
        """
        c = self.config
        pilot_day = c.history_days - c.pilot_days_before_decision
        while self.day < c.history_days:
            if self.day == pilot_day and c.pilot_share > 0:
                self._run_pilot()
            self._step(self._rng)

    def _run_pilot(self) -> None:
        c = self.config
        eligible = np.flatnonzero(self.first_day < self.day)
        treated = self._rng.random(len(eligible)) < c.pilot_share
        self._apply(Treatment(coupons=dict.fromkeys(eligible[treated].tolist(), c.pilot_coupon)))
        self.pilot_day = self.day
        self.pilot = dict(zip(eligible.tolist(), treated.tolist(), strict=True))

    def future(
        self, policy: Treatment | Policy, days: int = 90, every_days: int | None = None
    ) -> dict[str, float]:
        """Simulate ``days`` more on a copy of the shop under ``policy``.

        ``policy`` is a :class:`Treatment` applied on the decision day, or a
        :data:`Policy` called on the decision day and, with ``every_days``,
        again every ``every_days`` days with the shop as it is then (a
        recurring campaign). Returns 90-day retention (share of customers with
        a purchase before the decision day who buy again within ``days``),
        their revenue, and what was spent in the window: coupons used,
        messages sent and care contacts made. The shop itself is left
        untouched, so every policy starts from the same state and draws from
        the same random numbers.
        """
        if every_days is not None and every_days < 1:
            raise ValueError(f"every_days must be at least 1; got {every_days}")
        shop = copy.deepcopy(self)
        decision = shop.day
        end = decision + days
        decide = policy if callable(policy) else (lambda _shop: policy)
        shop.coupon_spend = 0.0
        shop.messages_sent = shop.care_contacts = 0
        orders_before = len(shop.log.orders)
        rng = np.random.default_rng(self.seed + 10_000)
        while shop.day < end:
            since = shop.day - decision
            if since == 0 or (every_days is not None and since % every_days == 0):
                shop._apply(decide(shop))
            shop._step(rng)
        window = shop.log.orders[orders_before:]
        customers = {o["customer"] for o in self.log.orders}
        returned = {o["customer"] for o in window} & customers
        revenue = sum(o["amount"] for o in window if o["customer"] in customers)
        return {
            "retention_90d": len(returned) / max(len(customers), 1),
            "revenue": revenue,
            "coupon_spend": shop.coupon_spend,
            "messages_sent": float(shop.messages_sent),
            "care_contacts": float(shop.care_contacts),
            "customers": float(len(customers)),
        }

    def _apply(self, treatment: Treatment) -> None:
        """Start the treatment's actions today."""
        c, day = self.config, self.day
        for customer, value in treatment.coupons.items():
            self.coupon_value[customer] = value
            self.coupon_until[customer] = day + c.coupon_days
        for customer, items in treatment.messages.items():
            if self.messages_received[customer] >= self.messages_tolerated[customer]:
                continue  # unsubscribed
            self.message_until[customer] = day + c.message_days
            self.message_relevance[customer] = self.relevance(customer, items)
            self.messages_received[customer] += 1
            self.messages_sent += 1
        for customer in treatment.care:
            self.complaint_until[customer] = -1
        self.care_contacts += len(treatment.care)

    # -- canonical tables ---------------------------------------------------------

    def date_of(self, day: int) -> dt.date:
        return self.config.start + dt.timedelta(days=day)

    def _ts(self, day: int, offset_hours: float = 12.0) -> dt.datetime:
        return dt.datetime.combine(self.config.start, dt.time()) + dt.timedelta(
            days=day, hours=offset_hours
        )

    def user_id(self, customer: int) -> str:
        return f"S{customer:06d}"

    def category(self, item: int) -> int:
        return item // self.config.items_per_category

    def relevance(self, customer: int, items: list[int]) -> float:
        """Share of ``items`` from the customer's favourite category (0 for no items)."""
        if not items:
            return 0.0
        return float(np.mean([self.category(i) == self.taste[customer] for i in items]))

    def tables(self) -> dict[str, pa.Table]:
        """The history as canonical tables, ready for :func:`retain.data.ingest_arrow`."""
        n_items = len(self.item_price)
        events, orders, reviews = self.log.events, self.log.orders, self.log.reviews
        complaints = self.log.complaints
        arrived = np.flatnonzero(self.first_day < self.day)
        return {
            "items": pa.table(
                {
                    "item_id": [f"I{i:04d}" for i in range(n_items)],
                    "title": [f"product {i}" for i in range(n_items)],
                    "category": [f"category-{self.category(i)}" for i in range(n_items)],
                    "price": np.round(self.item_price, 2),
                }
            ),
            "users": pa.table(
                {
                    "user_id": [self.user_id(int(u)) for u in arrived],
                    "first_seen": [self._ts(int(self.first_day[u]), 9.0) for u in arrived],
                }
            ),
            "events": pa.table(
                {
                    "event_id": [f"E{i}" for i in range(len(events))],
                    "user_id": [self.user_id(u) for u, _, _, _ in events],
                    "item_id": [f"I{i:04d}" for _, i, _, _ in events],
                    "event_type": [kind for _, _, kind, _ in events],
                    "ts": [self._ts(d, 10.0 if k == "view" else 10.5) for _, _, k, d in events],
                }
            ),
            "orders": pa.table(
                {
                    "order_id": [f"O{i}" for i in range(len(orders))],
                    "user_id": [self.user_id(o["customer"]) for o in orders],
                    "ts": [self._ts(o["day"], 11.0) for o in orders],
                    "amount": [round(o["amount"], 2) for o in orders],
                }
            ),
            "reviews": pa.table(
                {
                    "review_id": [f"R{i}" for i in range(len(reviews))],
                    "user_id": [self.user_id(u) for u, _, _, _ in reviews],
                    "item_id": [f"I{i:04d}" for _, i, _, _ in reviews],
                    "rating": [r for _, _, r, _ in reviews],
                    "text": [_REVIEW_TEXT[r <= 2] for _, _, r, _ in reviews],
                    "ts": [self._ts(d + 2) for _, _, _, d in reviews],
                }
            ),
            "conversations": pa.table(
                {
                    "conversation_id": [f"K{i}" for i in range(len(complaints))],
                    "turn": [0] * len(complaints),
                    "user_id": [self.user_id(u) for u, _ in complaints],
                    "role": ["customer"] * len(complaints),
                    "text": ["my order arrived broken"] * len(complaints),
                    "ts": [self._ts(d + 1) for _, d in complaints],
                }
            ),
        }
