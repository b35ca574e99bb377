"""A/B tests with honest statistics.

* **Assignment** is a hash of experiment and user id: the same user always
  lands in the same variant, across processes and machines, with no table to
  keep in sync, and two experiments are assigned independently.
* **Tests** report the effect with a confidence interval, not only a p-value:
  a two-proportion z-test for rates (repurchase at D30, conversion) and
  Welch's t-test for means (revenue per user).
* **CUPED** removes the part of the outcome explained by the same metric
  before the experiment, which narrows intervals without biasing the effect.
* **Fixed horizon**: :class:`FixedHorizonPlan` fixes the sample size before
  the start, and :meth:`FixedHorizonPlan.analyse` gives no verdict until it
  is reached — looking daily and stopping at the first p < 0.05 would raise
  the false-positive rate far above 5%.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from retain.errors import InvalidInputError

__all__ = [
    "Comparison",
    "FixedHorizonPlan",
    "assign",
    "cuped",
    "mean_test",
    "proportion_test",
    "sample_size_means",
    "sample_size_proportions",
]

FloatArray = npt.NDArray[np.float64]


def assign(
    user_id: str,
    experiment: str,
    variants: Sequence[str] = ("control", "treatment"),
    weights: Sequence[float] | None = None,
) -> str:
    """The variant of ``user_id`` in ``experiment``; stable for ever."""
    if not variants:
        raise InvalidInputError("an experiment needs at least one variant")
    shares = np.asarray(weights if weights is not None else [1.0] * len(variants), float)
    if shares.shape != (len(variants),) or (shares < 0).any() or shares.sum() <= 0:
        raise InvalidInputError(
            f"weights must be {len(variants)} non-negative numbers with a positive sum; "
            f"got {list(shares)}"
        )
    digest = hashlib.sha256(f"{experiment}\x1f{user_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2.0**64
    edges = np.cumsum(shares) / shares.sum()
    return variants[int(np.searchsorted(edges, point, side="right"))]


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control, with a two-sided confidence interval."""

    control: float
    treatment: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    relative_lift: float | None
    n_control: int
    n_treatment: int
    confidence: float

    @property
    def significant(self) -> bool:
        return self.p_value < 1.0 - self.confidence


def proportion_test(
    successes_control: int,
    n_control: int,
    successes_treatment: int,
    n_treatment: int,
    *,
    confidence: float = 0.95,
) -> Comparison:
    """Two-proportion z-test (pooled for the p-value, unpooled for the interval)."""
    for name, hits, n in (
        ("control", successes_control, n_control),
        ("treatment", successes_treatment, n_treatment),
    ):
        if n <= 0 or not 0 <= hits <= n:
            raise InvalidInputError(
                f"{name}: need 0 <= successes <= n and n > 0; got {hits} of {n}"
            )
    p_c, p_t = successes_control / n_control, successes_treatment / n_treatment
    pooled = (successes_control + successes_treatment) / (n_control + n_treatment)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    difference = p_t - p_c
    z = difference / se_pooled if se_pooled > 0 else 0.0
    se = math.sqrt(p_c * (1 - p_c) / n_control + p_t * (1 - p_t) / n_treatment)
    half = stats.norm.ppf(0.5 + confidence / 2) * se
    return Comparison(
        control=p_c,
        treatment=p_t,
        difference=difference,
        ci_low=difference - half,
        ci_high=difference + half,
        p_value=float(2 * stats.norm.sf(abs(z))),
        relative_lift=difference / p_c if p_c > 0 else None,
        n_control=n_control,
        n_treatment=n_treatment,
        confidence=confidence,
    )


def mean_test(
    control: npt.ArrayLike, treatment: npt.ArrayLike, *, confidence: float = 0.95
) -> Comparison:
    """Welch's t-test of means with a Welch-Satterthwaite confidence interval."""
    a = np.asarray(control, dtype=np.float64)
    b = np.asarray(treatment, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        raise InvalidInputError(f"each arm needs at least 2 values; got {a.size} and {b.size}")
    var_a, var_b = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(var_a + var_b)
    difference = float(b.mean() - a.mean())
    if se == 0:
        p_value, half = (1.0 if difference == 0 else 0.0), 0.0
    else:
        df = (var_a + var_b) ** 2 / (var_a**2 / (a.size - 1) + var_b**2 / (b.size - 1))
        p_value = float(2 * stats.t.sf(abs(difference / se), df))
        half = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
    return Comparison(
        control=float(a.mean()),
        treatment=float(b.mean()),
        difference=difference,
        ci_low=difference - half,
        ci_high=difference + half,
        p_value=p_value,
        relative_lift=difference / float(a.mean()) if a.mean() != 0 else None,
        n_control=int(a.size),
        n_treatment=int(b.size),
        confidence=confidence,
    )


def cuped(outcome: npt.ArrayLike, pre_period: npt.ArrayLike) -> FloatArray:
    """Outcome minus ``theta * (pre - mean(pre))``, theta fitted on all users of both arms.

    Use the same metric measured before the experiment started as
    ``pre_period`` (it must not be affected by the treatment). Compare arms
    on the returned values with :func:`mean_test`.
    """
    y = np.asarray(outcome, dtype=np.float64)
    x = np.asarray(pre_period, dtype=np.float64)
    if y.shape != x.shape:
        raise InvalidInputError(f"outcome and pre-period differ in shape: {y.shape}, {x.shape}")
    variance = x.var()
    theta = 0.0 if variance == 0 else float(np.cov(y, x, ddof=0)[0, 1] / variance)
    return np.asarray(y - theta * (x - x.mean()), dtype=np.float64)


def _z(confidence: float, power: float) -> tuple[float, float]:
    if not (0 < confidence < 1 and 0 < power < 1):
        raise InvalidInputError(
            f"confidence and power must lie in (0, 1); got {confidence}, {power}"
        )
    return float(stats.norm.ppf(0.5 + confidence / 2)), float(stats.norm.ppf(power))


def sample_size_proportions(
    baseline: float, minimum_effect: float, *, confidence: float = 0.95, power: float = 0.8
) -> int:
    """Users per arm to detect ``baseline -> baseline + minimum_effect`` (absolute)."""
    target = baseline + minimum_effect
    if not (0 < baseline < 1 and 0 < target < 1 and minimum_effect != 0):
        raise InvalidInputError(
            f"need 0 < baseline < 1, 0 < baseline + effect < 1 and effect != 0; "
            f"got {baseline} and {minimum_effect}"
        )
    z_alpha, z_beta = _z(confidence, power)
    mean = (baseline + target) / 2
    spread = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(
        baseline * (1 - baseline) + target * (1 - target)
    )
    return math.ceil(spread**2 / minimum_effect**2)


def sample_size_means(
    std: float, minimum_effect: float, *, confidence: float = 0.95, power: float = 0.8
) -> int:
    """Users per arm to detect a difference of means of ``minimum_effect``."""
    if std <= 0 or minimum_effect == 0:
        raise InvalidInputError(f"need std > 0 and effect != 0; got {std}, {minimum_effect}")
    z_alpha, z_beta = _z(confidence, power)
    return math.ceil(2 * ((z_alpha + z_beta) * std / minimum_effect) ** 2)


@dataclass(frozen=True)
class FixedHorizonPlan:
    """A test planned for ``users_per_arm`` users; no verdict before that.

    Example:
        >>> plan = FixedHorizonPlan(sample_size_proportions(0.10, 0.02))
        >>> plan.analyse(result).verdict
    """

    users_per_arm: int
    confidence: float = 0.95

    def analyse(self, result: Comparison) -> PlanVerdict:
        reached = min(result.n_control, result.n_treatment)
        if reached < self.users_per_arm:
            return PlanVerdict(
                ready=False,
                verdict=(
                    f"keep running: {reached:,} of {self.users_per_arm:,} users per arm. "
                    "Deciding before the planned size inflates false positives."
                ),
                result=result,
            )
        if result.p_value < 1 - self.confidence:
            direction = "better" if result.difference > 0 else "worse"
            verdict = (
                f"treatment is {direction}: {result.difference:+.4g} "
                f"({self.confidence:.0%} CI {result.ci_low:+.4g} .. {result.ci_high:+.4g}), "
                f"p = {result.p_value:.3g}"
            )
        else:
            verdict = (
                f"no detectable difference: {result.difference:+.4g} "
                f"({self.confidence:.0%} CI {result.ci_low:+.4g} .. {result.ci_high:+.4g}), "
                f"p = {result.p_value:.3g}"
            )
        return PlanVerdict(ready=True, verdict=verdict, result=result)


@dataclass(frozen=True)
class PlanVerdict:
    """What a fixed-horizon plan allows one to say about a result."""

    ready: bool
    verdict: str
    result: Comparison
