"""BG/NBD and Gamma-Gamma: published estimates, a second implementation, simulated truth."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from retain.errors import ConvergenceError, InvalidInputError, NotFittedError
from retain.predict.btyd import BetaGeo, BetaGeoParams, GammaGamma
from retain.predict.synthetic import CDNOW_PARAMS, simulate_orders

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """The 2,357-customer CDNOW summary of Fader, Hardie & Lee (weeks), as lifetimes ships it."""
    return load_cdnow_summary_data_with_monetary_value()


def test_recovers_the_published_cdnow_estimates_within_one_percent(cdnow: pd.DataFrame) -> None:
    fitted = BetaGeo().fit(cdnow.frequency, cdnow.recency, cdnow["T"]).params_
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.01), name


def test_gamma_gamma_recovers_the_published_spend_estimates(cdnow: pd.DataFrame) -> None:
    buyers = cdnow[cdnow.frequency > 0]
    fitted = GammaGamma().fit(buyers.frequency, buyers.monetary_value).params_
    # Fader, Hardie & Lee (2005b): p = 6.25, q = 3.74, gamma = 15.44.
    assert fitted.p == pytest.approx(6.25, rel=0.01)
    assert fitted.q == pytest.approx(3.74, rel=0.01)
    assert fitted.gamma == pytest.approx(15.44, rel=0.01)


def test_predictions_agree_with_lifetimes(cdnow: pd.DataFrame) -> None:
    x, t_x, big_t = cdnow.frequency, cdnow.recency, cdnow["T"]
    ours = BetaGeo().fit(x, t_x, big_t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = BetaGeoFitter().fit(x, t_x, big_t)
        expected = theirs.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, big_t)
        alive = theirs.conditional_probability_alive(x, t_x, big_t)
    np.testing.assert_allclose(ours.expected_purchases(39, x, t_x, big_t), expected, rtol=1e-4)
    np.testing.assert_allclose(ours.p_alive(x, t_x, big_t), alive, rtol=1e-4)


def _simulated(
    customers: int, params: BetaGeoParams, seed: int, weeks: float = 39
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``x``, ``t_x`` and ``T`` (weeks) after ``weeks`` of orders simulated from ``params``."""
    orders = simulate_orders(customers, params=params, seed=seed).to_pandas()
    week = (orders.ts - orders.ts.min().normalize()).dt.total_seconds() / (7 * 86400)
    orders = orders.assign(week=week)[week <= weeks]
    per = orders.groupby("user_id").week.agg(["size", "min", "max"])
    return per["size"] - 1, per["max"] - per["min"], weeks - per["min"]


def test_recovers_the_parameters_that_simulated_the_data() -> None:
    fitted = BetaGeo().fit(*_simulated(150_000, CDNOW_PARAMS, seed=3)).params_
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(CDNOW_PARAMS, name), rel=0.1), name


def test_extreme_histories_give_finite_answers() -> None:
    """Heavy buyers overflow naive likelihoods and the hypergeometric function."""
    x = np.array([0, 1, 50, 500, 5000], dtype=float)
    t_x = np.array([0, 1.0, 30.0, 38.9, 39.0])
    big_t = np.full(5, 39.0)
    model = BetaGeo().fit(np.r_[x, 0, 0, 2], np.r_[t_x, 0, 0, 5.0], np.r_[big_t, 39, 20, 39])
    for values in (
        model.expected_purchases(52, x, t_x, big_t),
        model.p_alive(x, t_x, big_t),
        model.probability_of_purchase(52, x, t_x, big_t),
    ):
        assert np.isfinite(values).all()
    expected = model.expected_purchases(52, x, t_x, big_t)
    assert expected[-1] > expected[-2] > expected[2]


def test_probability_of_a_purchase_never_exceeds_p_alive(cdnow: pd.DataFrame) -> None:
    x, t_x, big_t = cdnow.frequency, cdnow.recency, cdnow["T"]
    model = BetaGeo().fit(x, t_x, big_t)
    probability = model.probability_of_purchase(39, x, t_x, big_t)
    assert ((probability >= 0) & (probability <= model.p_alive(x, t_x, big_t) + 1e-12)).all()


def test_bad_summaries_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInputError, match="t_x must lie between 0 and T"):
        BetaGeo().fit([1, 0], [10.0, 0.0], [5.0, 5.0])
    with pytest.raises(InvalidInputError, match="non-negative whole number"):
        BetaGeo().fit([-1, 0], [0.0, 0.0], [5.0, 5.0])
    with pytest.raises(ConvergenceError, match="at least one customer with a repeat purchase"):
        BetaGeo().fit([0, 0], [0.0, 0.0], [5.0, 5.0])
    with pytest.raises(NotFittedError, match="call fit"):
        BetaGeo().p_alive([0], [0.0], [1.0])


def test_homogeneous_dropout_is_a_limit_not_a_failure() -> None:
    """When every customer drops out alike, a and b grow together; lifetimes fails here."""
    homogeneous = BetaGeoParams(r=0.5, alpha=3.0, a=3000.0, b=9000.0)
    x, t_x, big_t = _simulated(30_000, homogeneous, seed=5)
    model = BetaGeo().fit(x, t_x, big_t)
    fitted = model.params_
    assert fitted.a / (fitted.a + fitted.b) == pytest.approx(0.25, rel=0.15)
    assert fitted.r == pytest.approx(0.5, rel=0.15)
    assert np.isfinite(model.expected_purchases(39, x, t_x, big_t)).all()


def test_no_dropout_is_a_limit_not_a_failure() -> None:
    """Where nobody drops out, a goes to 0 (the NBD model); a year of wholesale orders does this.

    The fit used to call that edge a failure, and `retain train predict` then
    refused the UCI Online Retail shop. The answer is NBD: each customer's
    expected purchases are (r + x) / (alpha + T) per week.
    """
    loyal = BetaGeoParams(r=0.8, alpha=10.0, a=1e-9, b=1.0)
    x, t_x, big_t = _simulated(4000, loyal, seed=0)  # this draw's fit ends at the edge
    model = BetaGeo().fit(x, t_x, big_t)
    fitted = model.params_
    assert fitted.a / (fitted.a + fitted.b) < 1e-3
    assert fitted.r == pytest.approx(0.8, rel=0.15)
    assert fitted.alpha == pytest.approx(10.0, rel=0.15)
    nbd = (fitted.r + x) / (fitted.alpha + big_t) * 26
    np.testing.assert_allclose(model.expected_purchases(26, x, t_x, big_t), nbd, rtol=1e-2)
