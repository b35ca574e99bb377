"""The simulated shop: reproducible, loadable by the real pipeline, and responsive to actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.retention.bench import run_retention_benchmark
from retain.retention.simulator import ShopSimulator, SimulatorConfig, Treatment

SMALL = SimulatorConfig(customers=600, history_days=200, acquisition_days=120, pilot_share=0.0)


@pytest.fixture(scope="module")
def shop() -> ShopSimulator:
    simulated = ShopSimulator(SMALL, seed=4)
    simulated.run_history()
    return simulated


def test_the_same_seed_gives_the_same_shop(shop: ShopSimulator) -> None:
    again = ShopSimulator(SMALL, seed=4)
    again.run_history()
    assert again.log.orders == shop.log.orders and again.log.events == shop.log.events
    assert shop.future(Treatment()) == again.future(Treatment())


def test_its_tables_load_into_the_store_without_a_rejected_record(
    shop: ShopSimulator, store: Store
) -> None:
    for table, data in shop.tables().items():
        report = ingest_arrow(store, table, data, source=table, now=dt.datetime(2030, 1, 1))
        assert report.quarantined == 0, (table, report.reasons)
    counts = store.counts()
    assert counts["orders"] == len(shop.log.orders) and counts["conversations"] > 0


def test_actions_move_customers_the_documented_way(shop: ShopSimulator) -> None:
    past = sorted({o["customer"] for o in shop.log.orders})
    alive = [c for c in past if shop.alive[c]]
    nothing = shop.future(Treatment())
    coupons = shop.future(Treatment(coupons=dict.fromkeys(alive, 15.0)))
    assert coupons["retention_90d"] > nothing["retention_90d"] + 0.02
    assert coupons["coupon_spend"] > 0 and nothing["coupon_spend"] == 0
    useless = shop.future(Treatment(coupons={c: 15.0 for c in past if not shop.alive[c]}))
    assert useless["retention_90d"] == nothing["retention_90d"]  # churn is permanent
    assert shop.future(Treatment()) == nothing  # futures never change the shop itself


def test_acting_on_some_customers_leaves_every_other_customers_future_as_it_was(
    shop: ShopSimulator,
) -> None:
    past = sorted({o["customer"] for o in shop.log.orders})
    targets = [c for c in past if shop.alive[c]][::2]
    orders: dict[str, list[dict[str, Any]]] = {}

    def remember(name: str, treatment: Treatment) -> Callable[[ShopSimulator], Treatment]:
        def decide(now: ShopSimulator) -> Treatment:
            orders[name] = now.log.orders  # the shop copy's log, read after the run
            return treatment if now.day == shop.day else Treatment()

        return decide

    coupons = Treatment(coupons=dict.fromkeys(targets, 15.0))
    messages = Treatment(messages={c: [0] for c in targets})
    for name, treatment in (("nothing", Treatment()), ("coupons", coupons), ("messages", messages)):
        shop.future(remember(name, treatment), every_days=1)
    after = len(shop.log.orders)

    def split(name: str) -> tuple[list[tuple[int, int, float]], int]:
        window = orders[name][after:]
        others = [(o["customer"], o["day"], o["amount"]) for o in window
                  if o["customer"] not in targets]  # fmt: skip
        return others, len(window) - len(others)

    nothing, treated = split("nothing")
    for name in ("coupons", "messages"):
        others, acted_on = split(name)
        assert acted_on > treated  # the actions worked on the customers they were for
        assert others == nothing  # and nobody else's purchases moved by a day or a cent


def test_messages_whose_items_match_the_taste_bring_more_customers_back() -> None:
    shop = ShopSimulator(SimulatorConfig(customers=3000, pilot_share=0.0), seed=1)
    shop.run_history()  # big enough for the difference to stand above the noise
    alive = [c for c in sorted({o["customer"] for o in shop.log.orders}) if shop.alive[c]]
    per = shop.config.items_per_category

    def items(customer: int, liked: bool) -> list[int]:
        category = (
            shop.taste[customer] if liked else (shop.taste[customer] + 1) % shop.config.categories
        )
        return [int(category) * per + i for i in range(4)]

    nothing = shop.future(Treatment())["retention_90d"]
    liked = shop.future(Treatment(messages={c: items(c, True) for c in alive}))
    other = shop.future(Treatment(messages={c: items(c, False) for c in alive}))
    assert liked["retention_90d"] > max(other["retention_90d"], nothing) + 0.005
    assert shop.relevance(alive[0], items(alive[0], True)) == 1.0
    assert shop.relevance(alive[0], items(alive[0], False)) == 0.0


def test_a_recurring_policy_decides_every_few_days_on_the_shop_as_it_is_then(
    shop: ShopSimulator,
) -> None:
    seen: list[tuple[int, int]] = []
    regular = int(np.argmax(shop.messages_tolerated))  # a customer who never unsubscribes

    def weekly(now: ShopSimulator) -> Treatment:
        seen.append((now.day, len(now.log.orders)))
        return Treatment(messages={regular: [0]})

    outcome = shop.future(weekly, days=30, every_days=7)
    assert [day for day, _ in seen] == [200, 207, 214, 221, 228]
    orders = [n for _, n in seen]
    assert orders == sorted(orders) and orders[-1] > orders[0]  # it sees the new orders
    assert outcome["messages_sent"] == 5 and outcome["coupon_spend"] == 0
    assert shop.day == 200 and len(shop.log.orders) == orders[0]  # the shop itself is untouched
    once = shop.future(weekly, days=30)
    assert once["messages_sent"] == 1 and seen[-1][0] == 200
    with pytest.raises(ValueError, match="every_days"):
        shop.future(weekly, every_days=0)


def test_a_customer_who_unsubscribed_gets_no_more_messages() -> None:
    def weekly(now: ShopSimulator) -> Treatment:
        return Treatment(messages={c: [0] for c in range(50)})

    counts = {}
    for rate in (0.0, 1.0):
        config = SimulatorConfig(
            customers=200, history_days=60, acquisition_days=60, unsubscribe_rate=rate
        )
        simulated = ShopSimulator(config, seed=2)
        simulated.run_history()
        counts[rate] = simulated.future(weekly, days=28, every_days=7)["messages_sent"]
    assert counts == {0.0: 200.0, 1.0: 50.0}  # with rate 1 each customer takes one message


def test_the_benchmark_reports_every_policy_with_intervals() -> None:
    result = run_retention_benchmark(seeds=2, customers=400, every_days=45)
    assert result["rounds"] == 2
    assert set(result["baselines"]) == {
        "no_action", "random_coupons", "rfm_heuristic", "newsletter_rfm",
        "category_newsletter_rfm",
    }  # fmt: skip
    assert {"retention_90d", "revenue_per_user"} <= set(result["metrics"])
    for arm in result["intervals"].values():
        low, high = arm["retention_90d"]["ci_low"], arm["retention_90d"]["ci_high"]
        assert np.isfinite(low) and low <= arm["retention_90d"]["mean"] <= high
    reference = "hidden_state_reference"  # reads the hidden state: reported, never a baseline
    assert set(result["retain_minus_baseline"]) == set(result["baselines"]) | {reference}
    assert set(result["reference"]) == {reference}
    knowing, nothing = result["per_seed"][reference], result["per_seed"]["no_action"]
    assert all(
        k > n for k, n in zip(knowing["retention_90d"], nothing["retention_90d"], strict=True)
    )
    assert result["share_of_reference_gain"] is not None
    for arm in ("random_coupons", "rfm_heuristic", "newsletter_rfm", "retain", reference):
        seeds = result["per_seed"][arm]
        assert all(0 <= s <= b * 1.2 for s, b in zip(seeds["spend"], seeds["budget"], strict=True))
    assert all(n > 0 for n in result["per_seed"]["newsletter_rfm"]["messages"])
    relevance = result["message_relevance"]
    if relevance["messages"]:  # the recommender's picks, beside the simplest alternative
        assert 0.0 <= relevance["retain"] <= 1.0 and 0.0 <= relevance["most_bought_category"] <= 1.0


def test_the_pilot_experiment_treats_a_random_share() -> None:
    piloted = ShopSimulator(SimulatorConfig(customers=2000), seed=1)
    piloted.run_history()
    assert piloted.pilot_day == 150 and len(piloted.pilot) > 1000
    assert abs(np.mean(list(piloted.pilot.values())) - 0.2) < 0.03
