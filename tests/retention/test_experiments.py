"""Experiment statistics: checked against scipy, textbook numbers and simulation."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats

from retain.errors import InvalidInputError
from retain.retention.experiments import (
    FixedHorizonPlan,
    assign,
    cuped,
    mean_test,
    proportion_test,
    sample_size_means,
    sample_size_proportions,
)


def test_assignment_is_stable_balanced_and_independent_across_experiments() -> None:
    users = [f"u{i}" for i in range(20_000)]
    first = [assign(u, "coupon-test") for u in users]
    assert first == [assign(u, "coupon-test") for u in users]
    counts = Counter(first)
    assert abs(counts["treatment"] / len(users) - 0.5) < 0.015
    other = [assign(u, "email-test") for u in users]
    both = Counter(zip(first, other, strict=True))
    assert all(abs(n / len(users) - 0.25) < 0.015 for n in both.values())
    weighted = Counter(assign(u, "w", ("a", "b", "c"), (0.8, 0.1, 0.1)) for u in users)
    assert abs(weighted["a"] / len(users) - 0.8) < 0.015
    with pytest.raises(InvalidInputError, match="non-negative numbers"):
        assign("u1", "w", ("a", "b"), (1.0, -1.0))


def test_proportion_test_matches_the_chi_square_test() -> None:
    result = proportion_test(200, 2000, 250, 2000)
    _, p_value, _, _ = stats.chi2_contingency([[200, 1800], [250, 1750]], correction=False)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)
    assert result.difference == pytest.approx(0.025)
    assert result.ci_low < 0.025 < result.ci_high and result.significant
    assert result.relative_lift == pytest.approx(0.25)
    with pytest.raises(InvalidInputError, match="treatment: need 0 <= successes <= n"):
        proportion_test(1, 10, 11, 10)


def test_mean_test_matches_welch() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(10, 3, 400), rng.normal(10.6, 5, 300)
    result = mean_test(a, b)
    assert result.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert result.ci_low < result.difference < result.ci_high


def test_false_positive_rate_of_aa_tests_is_the_nominal_five_percent() -> None:
    rng = np.random.default_rng(1)
    hits = sum(
        proportion_test(rng.binomial(3000, 0.1), 3000, rng.binomial(3000, 0.1), 3000).significant
        for _ in range(3000)
    )
    assert 0.04 < hits / 3000 < 0.06


def test_cuped_keeps_the_effect_and_narrows_the_interval() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    pre = rng.gamma(2.0, 20.0, n)
    treated = rng.random(n) < 0.5
    outcome = 0.8 * pre + rng.normal(0, 10, n) + np.where(treated, 3.0, 0.0)
    plain = mean_test(outcome[~treated], outcome[treated])
    adjusted_values = cuped(outcome, pre)
    adjusted = mean_test(adjusted_values[~treated], adjusted_values[treated])
    assert adjusted.ci_low < 3.0 < adjusted.ci_high
    assert (adjusted.ci_high - adjusted.ci_low) < 0.5 * (plain.ci_high - plain.ci_low)


def test_sample_sizes_match_the_textbook() -> None:
    # 10% -> 12% at 95% confidence and 80% power: 3,841 per arm (Fleiss).
    assert sample_size_proportions(0.10, 0.02) == 3841
    # sigma 1, delta 0.2: 2 * (1.96 + 0.8416)^2 / 0.04 = 392.4 -> 393.
    assert sample_size_means(1.0, 0.2) == 393
    with pytest.raises(InvalidInputError, match="0 < baseline"):
        sample_size_proportions(0.99, 0.05)


def test_a_plan_gives_no_verdict_before_its_sample_size() -> None:
    plan = FixedHorizonPlan(users_per_arm=3841)
    early = plan.analyse(proportion_test(100, 1000, 160, 1000))
    assert not early.ready and "keep running: 1,000 of 3,841" in early.verdict
    done = plan.analyse(proportion_test(384, 3841, 461, 3841))
    assert done.ready and done.verdict.startswith("treatment is better")
