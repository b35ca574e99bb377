"""The point forecasts the prediction benchmark scores."""

import numpy as np
from scipy import stats

from retain.predict.bench import holdout_metrics, median_purchases


def test_median_is_zero_below_even_odds_and_the_hurdle_median_above() -> None:
    expected = np.array([0.4, 3.0, 0.6, 1.0])
    probability = np.array([0.4, 0.9, 0.6, 1.0])
    median = median_purchases(expected, probability)
    assert median[0] == 0.0  # more likely than not to buy nothing
    assert median[2] == 1.0  # buys, and the mean leaves nothing beyond the first
    assert median[3] == 1.0
    # 0 w.p. 0.1, else 1 + Poisson(2.333): the sampled median agrees
    rng = np.random.default_rng(0)
    draws = np.where(rng.random(200_000) < 0.1, 0, 1 + rng.poisson(3.0 / 0.9 - 1.0, 200_000))
    assert median[1] == np.median(draws)


def test_median_forecast_beats_the_mean_on_mae_for_zero_heavy_counts() -> None:
    """Counts mostly 0: the median forecast has the lower absolute error, the mean the lower
    squared error, which is why the benchmark reports both."""
    rng = np.random.default_rng(1)
    probability = rng.uniform(0.05, 0.95, 5000)
    rate = rng.uniform(0.5, 3.0, 5000)
    bought = rng.random(5000) < probability
    actual = np.where(bought, 1 + rng.poisson(rate), 0).astype(np.float64)
    expected = probability * (1 + rate)
    metrics = holdout_metrics(actual, actual, expected, probability, expected)
    assert metrics["mae_median"] < metrics["mae"]
    median = median_purchases(expected, probability)
    assert np.sqrt(((median - actual) ** 2).mean()) > metrics["rmse"]
    assert stats.spearmanr(median, expected).statistic > 0.8
