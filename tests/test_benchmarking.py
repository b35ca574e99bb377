"""The measurements every benchmark shares."""

from __future__ import annotations

import numpy as np
import pytest

from retain.benchmarking import expected_calibration_error


def test_calibration_error_is_zero_when_confidence_matches_the_hit_rate() -> None:
    confidence = np.repeat([0.5, 1.0], 50)
    hit = np.concatenate([np.arange(50) % 2 == 0, np.ones(50, dtype=bool)])
    assert expected_calibration_error(confidence, hit) == pytest.approx(0.0)


def test_calibration_error_measures_overconfidence() -> None:
    confidence = np.full(100, 0.9)
    hit = np.arange(100) % 5 < 3  # right 60% of the time while claiming 90%
    assert expected_calibration_error(confidence, hit) == pytest.approx(0.3)
