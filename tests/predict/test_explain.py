"""Reasons read as reasons: the biggest risk factors, in words, only on the risky side."""

from __future__ import annotations

import numpy as np

from retain.predict.explain import NO_RISK_FACTOR, reason_for, top_reasons

NAMES = ["recency", "x", "ipt_mean", "T", "monetary_total", "support_contacts"]
TYPICAL = {"recency": 6.0, "x": 1.0, "ipt_mean": 3.0, "T": 20.0, "monetary_total": 50.0,
           "support_contacts": 0.0}  # fmt: skip


def test_the_strongest_negative_contributions_become_sentences_in_order() -> None:
    values = np.array([[21.0, 3.0, 4.0, 30.0, 20.0, 2.0]])
    effects = np.array([[-0.9, 0.3, 0.0, -2.0, -0.1, -0.4, 0.0]])  # last column: base value
    [reasons] = top_reasons(effects, values, NAMES, TYPICAL)
    # T has no risk direction, so it is skipped although its effect is the largest.
    assert reasons == [
        "no purchase for 21 weeks; usually buys every 4 weeks",
        "contacted customer service 2 times",
        "spent 20.00 in all",
    ]
    # Amounts read in the shop's currency where it names one.
    [priced] = top_reasons(effects, values, NAMES, TYPICAL, currency="CNY")
    assert priced[-1] == "spent ¥20.00 in all"


def test_a_value_on_the_safe_side_is_never_a_reason() -> None:
    values = np.array([[1.0, 3.0, 4.0, 30.0, 900.0, 0.0]])  # bought recently, spent a lot
    effects = np.array([[-0.5, 0.0, 0.0, 0.0, -1.5, -0.2, 0.0]])
    assert top_reasons(effects, values, NAMES, TYPICAL) == [[NO_RISK_FACTOR]]


def test_rhythm_sentences_fit_the_history() -> None:
    row = {"recency": 0.5, "x": 0.0, "ipt_mean": 0.0, "T": 2.0}
    assert reason_for("recency", row) == "has bought only once"
    row = {"recency": 1.0, "x": 2.0, "ipt_mean": 5.0, "T": 30.0}
    assert reason_for("bg_p_alive", row) == "only 3 purchases in 30 weeks"
    assert reason_for("unknown_feature", {"unknown_feature": 0.25}) == "unknown feature = 0.25"
    daily = {"recency": 20.0, "x": 30.0, "ipt_mean": 1 / 7, "T": 30.0}
    assert reason_for("recency", daily) == "no purchase for 20 weeks; usually buys every 1 day"
    once = {"recency": 36.0, "x": 0.0, "ipt_mean": 0.0, "T": 36.0, "monetary_mean": 56.4,
            "monetary_first": 56.4}  # fmt: skip
    # Online Retail's riskiest customers read "spends 56.40 per purchase; first purchase
    # worth 56.40": one fact twice. The two sentences are now one, and shown once.
    assert reason_for("monetary_mean", once) == reason_for("monetary_first", once)
    assert reason_for("monetary_first", once) == "spent 56.40 on their only purchase"
    names = ["recency", "monetary_mean", "monetary_first", "x"]
    values = np.array([[36.0, 56.4, 56.4, 0.0]])
    effects = np.array([[-0.9, -0.5, -0.4, 0.0, 0.0]])
    typical = {"recency": 6.0, "monetary_mean": 80.0, "monetary_first": 70.0, "x": 2.0}
    [reasons] = top_reasons(effects, values, names, typical)
    assert reasons == ["no purchase for 36 weeks", "spent 56.40 on their only purchase"]
    twice = {**daily, "x": 1.0, "recency": 53.0}  # one gap is no habit
    assert reason_for("recency", twice) == "no purchase for 53 weeks; bought twice, 1 day apart"
