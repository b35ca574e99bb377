"""What every benchmark reports the same way: latency, calibration error and the machine."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = ["expected_calibration_error", "latency_ms", "machine", "reliability_bins"]

T = TypeVar("T")


def latency_ms(
    call: Callable[[T], Any], requests: Sequence[T], warmup: int = 20
) -> dict[str, float]:
    """p50, p99, mean (ms) and throughput of ``call`` over ``requests``, one at a time.

    The first ``warmup`` requests run once untimed, so lazy loading and caches
    do not count as latency.
    """
    for request in requests[:warmup]:
        call(request)
    timings = []
    for request in requests:
        tick = time.perf_counter()
        call(request)
        timings.append((time.perf_counter() - tick) * 1000.0)
    t = np.array(timings)
    return {
        "p50": float(np.percentile(t, 50)),
        "p99": float(np.percentile(t, 99)),
        "mean": float(t.mean()),
        "throughput_per_s": float(1000.0 / t.mean()),
    }


def reliability_bins(
    probability: np.ndarray, outcome: np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, count) over ``bins`` equal-count bins, lowest first.

    ``outcome`` is 1/True where the predicted event happened (a repurchase, a
    right answer); equal-count bins keep every bin's observed rate meaningful.
    """
    order = np.argsort(probability, kind="stable")
    return [
        (float(probability[part].mean()), float(np.mean(outcome[part])), len(part))
        for part in np.array_split(order, bins)
        if len(part)
    ]


def expected_calibration_error(
    probability: np.ndarray, outcome: np.ndarray, bins: int = 10
) -> float:
    """Mean |predicted - observed| rate over the :func:`reliability_bins`, weighted by count."""
    gaps = [abs(p - o) * n for p, o, n in reliability_bins(probability, outcome, bins)]
    return float(sum(gaps) / max(len(probability), 1))


def machine() -> dict[str, Any]:
    """CPU count and platform, stored beside every benchmark's figures."""
    return {"cpu_count": os.cpu_count(), "platform": platform.platform()}
