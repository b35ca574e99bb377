"""Buy-till-you-die models: BG/NBD for purchase counts, Gamma-Gamma for spend.

Fitted here rather than through ``lifetimes`` because of the complaints that
library is known for: overflow in the likelihood, silent non-convergence and
slow fits on large customer bases. Three choices address them:

* the likelihood is evaluated in log space (``logaddexp``, ``gammaln``,
  ``betaln``), so no term overflows whatever a customer's history;
* customers are collapsed to unique ``(x, t_x, T)`` triples with weights, so a
  million customers cost what their few hundred thousand distinct histories cost;
* the conditional expectation integrates over the dropout probability with
  Gauss-Jacobi quadrature instead of evaluating a Gaussian hypergeometric
  function, which is where ``lifetimes`` returns ``inf``/``nan`` for heavy buyers.

Inputs follow Fader, Hardie & Lee (2005): ``x`` repeat purchases, ``t_x`` time
of the last purchase and ``T`` the customer's age, both measured from the first
purchase, in one time unit (Retain uses weeks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import linalg, optimize, special

from retain.errors import ConvergenceError, InvalidInputError, NotFittedError

__all__ = ["BetaGeo", "BetaGeoParams", "GammaGamma", "GammaGammaParams"]

FloatArray = npt.NDArray[np.float64]

_QUADRATURE_NODES = 48
#: Log-parameters are searched within ±this; an edge is a limit or a failure.
_LOG_EDGE = 12.0


@dataclass(frozen=True)
class BetaGeoParams:
    """BG/NBD parameters: purchase rate ~ Gamma(r, alpha), dropout ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma spend parameters (Fader, Hardie & Lee 2005b)."""

    p: float
    q: float
    gamma: float


def _as_summary(
    x: npt.ArrayLike, t_x: npt.ArrayLike, big_t: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    xs = np.asarray(x, dtype=np.float64)
    txs = np.asarray(t_x, dtype=np.float64)
    ts = np.asarray(big_t, dtype=np.float64)
    if not (xs.shape == txs.shape == ts.shape) or xs.ndim != 1:
        raise InvalidInputError(
            f"x, t_x and T must be 1-D arrays of one length; got shapes "
            f"{xs.shape}, {txs.shape}, {ts.shape}"
        )
    problems = []
    if not (np.isfinite(xs).all() and np.isfinite(txs).all() and np.isfinite(ts).all()):
        problems.append("values must be finite")
    if (xs < 0).any() or (np.floor(xs) != xs).any():
        problems.append("x (repeat purchases) must be a non-negative whole number")
    if (txs < 0).any() or (txs > ts + 1e-9).any():
        problems.append("t_x must lie between 0 and T")
    if ((xs == 0) & (txs > 0)).any():
        problems.append("t_x must be 0 for customers with no repeat purchase")
    if problems:
        raise InvalidInputError("invalid BG/NBD summary: " + "; ".join(problems))
    return xs, txs, ts


def _unique_rows(*columns: FloatArray) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Distinct rows and how often each occurs: the likelihood's weights."""
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return tuple(unique.T), counts.astype(np.float64)


def _fit_log_params(
    negative_ll: Callable[[FloatArray], float],
    starts: list[FloatArray],
    what: str,
    *,
    may_grow: tuple[int, ...] = (),
    may_vanish: tuple[int, ...] = (),
) -> FloatArray:
    """Minimise over log-parameters from several starts; keep the best that converged.

    A parameter may end at an edge of the search range only where the model
    has a meaningful limit there. ``may_grow`` lists those allowed to reach
    the upper edge (BG/NBD's ``a`` and ``b`` growing together: every customer
    has the same dropout probability); ``may_vanish`` those allowed to reach
    the lower edge (BG/NBD's ``a`` going to 0: nobody drops out, the NBD
    model, which a year of a wholesaler's orders can show). Any other
    parameter at an edge means the data do not identify the model, and that
    is an error, not an answer.
    """
    best: optimize.OptimizeResult | None = None
    for start in starts:
        with np.errstate(all="ignore"):
            result = optimize.minimize(
                negative_ll,
                start,
                method="L-BFGS-B",
                bounds=[(-_LOG_EDGE, _LOG_EDGE)] * len(start),
                options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9},
            )
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
    if best is None or not np.isfinite(best.fun):
        raise ConvergenceError(f"{what}: the likelihood could not be evaluated at any start")
    near = _LOG_EDGE - 1e-3
    at_edge = np.abs(best.x) >= near
    at_edge[list(may_grow)] &= best.x[list(may_grow)] < 0
    at_edge[list(may_vanish)] &= best.x[list(may_vanish)] > 0
    if at_edge.any():
        raise ConvergenceError(
            f"{what}: a parameter ran to the edge of its range "
            f"(log-parameters {np.round(best.x, 3).tolist()}); the data do not identify "
            "the model — too few repeat buyers or a calibration window that is too short"
        )
    return np.asarray(best.x, dtype=np.float64)


class BetaGeo:
    """BG/NBD model (Fader, Hardie & Lee 2005), estimator style.

    Example:
        >>> model = BetaGeo().fit(x, t_x, T)
        >>> model.expected_purchases(39.0, x, t_x, T)
    """

    def __init__(self, penalizer: float = 0.0) -> None:
        #: L2 penalty on the log-parameters; 0 reproduces the published estimates.
        self.penalizer = penalizer

    @property
    def params_(self) -> BetaGeoParams:
        params: BetaGeoParams | None = getattr(self, "_params", None)
        if params is None:
            raise NotFittedError("This BetaGeo is not fitted yet; call fit(x, t_x, T) first.")
        return params

    @classmethod
    def from_params(cls, params: BetaGeoParams) -> BetaGeo:
        model = cls()
        model._params = params
        return model

    def fit(self, x: npt.ArrayLike, t_x: npt.ArrayLike, big_t: npt.ArrayLike) -> BetaGeo:
        """Maximum-likelihood fit; raises :class:`ConvergenceError` rather than guess."""
        xs, txs, ts = _as_summary(x, t_x, big_t)
        if xs.size == 0:
            raise InvalidInputError("cannot fit BG/NBD on zero customers")
        if not (xs > 0).any():
            raise ConvergenceError("BG/NBD needs at least one customer with a repeat purchase")
        (ux, utx, ut), weights = _unique_rows(xs, txs, ts)
        repeat = ux > 0
        penalizer = self.penalizer

        def negative_ll(log_params: FloatArray) -> float:
            r, alpha, a, b = np.exp(log_params)
            ll = _bgnbd_log_likelihood(r, alpha, a, b, ux, utx, ut, repeat)
            value = -float(np.dot(weights, ll)) / float(weights.sum())
            return value + penalizer * float(np.dot(log_params, log_params))

        mean_rate = float((xs.sum() + 1) / max(ts.sum(), 1e-9))
        starts = [
            np.log([1.0, 1.0 / mean_rate, 1.0, 1.0]),
            np.log([0.25, 4.0, 0.8, 2.5]),
            np.log([2.0, 2.0 / mean_rate, 0.5, 5.0]),
        ]
        log_params = _fit_log_params(
            negative_ll, starts, "BG/NBD", may_grow=(2, 3), may_vanish=(2,)
        )
        r, alpha, a, b = (float(v) for v in np.exp(log_params))
        self._params = BetaGeoParams(r=r, alpha=alpha, a=a, b=b)
        self.log_likelihood_ = -negative_ll(log_params) * weights.sum()
        return self

    def p_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, big_t: npt.ArrayLike) -> FloatArray:
        """Probability that each customer has not dropped out by time ``T``."""
        xs, txs, ts = _as_summary(x, t_x, big_t)
        p = self.params_
        log_ratio = (
            np.log(p.a)
            - np.log(np.maximum(p.b + xs - 1.0, 1e-300))
            + (p.r + xs) * (np.log(p.alpha + ts) - np.log(p.alpha + txs))
        )
        return np.where(xs > 0, special.expit(-log_ratio), 1.0)

    def probability_of_purchase(
        self, horizon: float, x: npt.ArrayLike, t_x: npt.ArrayLike, big_t: npt.ArrayLike
    ) -> FloatArray:
        """P(at least one purchase in ``(T, T + horizon]``), from the model alone."""
        xs, txs, ts = _as_summary(x, t_x, big_t)
        p = self.params_
        no_purchase_if_alive = np.exp(
            (p.r + xs) * (np.log(p.alpha + ts) - np.log(p.alpha + ts + horizon))
        )
        return np.asarray(self.p_alive(xs, txs, ts) * (1.0 - no_purchase_if_alive))

    def expected_purchases(
        self, horizon: float, x: npt.ArrayLike, t_x: npt.ArrayLike, big_t: npt.ArrayLike
    ) -> FloatArray:
        """Expected purchases in ``(T, T + horizon]`` given each customer's history.

        ``P(alive) * E[(1 - exp(-lambda * p * t)) / p]`` with lambda's posterior
        Gamma(r + x, alpha + T) integrated in closed form and p's posterior
        Beta(a, b + x) by Gauss-Jacobi quadrature, per distinct ``x``.
        """
        xs, txs, ts = _as_summary(x, t_x, big_t)
        p = self.params_
        out = np.empty_like(xs)
        for value in np.unique(xs):
            rows = xs == value
            nodes, weights = _beta_quadrature(p.a, p.b + value)
            shape = p.r + value
            scale = p.alpha + ts[rows]
            # (1 - (scale / (scale + q t))^shape) / q for each quadrature node q.
            ratio = np.log(scale[:, None]) - np.log(scale[:, None] + nodes[None, :] * horizon)
            integrand = -np.expm1(shape * ratio) / nodes[None, :]
            out[rows] = integrand @ weights
        return self.p_alive(xs, txs, ts) * out


def _bgnbd_log_likelihood(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    repeat: npt.NDArray[np.bool_],
) -> FloatArray:
    common = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
    )
    survived = -(r + x) * np.log(alpha + big_t)
    dropped = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1.0, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return np.asarray(common + np.logaddexp(survived, dropped), dtype=np.float64)


def _beta_quadrature(a: float, b: float) -> tuple[FloatArray, FloatArray]:
    """Nodes in (0, 1) and weights that integrate ``f(p)`` against Beta(a, b).

    Gauss-Jacobi by the Golub-Welsch eigenvalue method, with the weights taken
    from the eigenvectors and normalised to one. SciPy's ``roots_jacobi``
    scales them by a Beta-function constant that overflows once ``b`` reaches
    a few thousand (a customer with thousands of repeat purchases).
    """
    # Jacobi weight (1 - u)^alpha (1 + u)^beta on [-1, 1]; then p = (1 + u) / 2.
    alpha, beta = b - 1.0, a - 1.0
    k = np.arange(_QUADRATURE_NODES, dtype=np.float64)
    total = 2.0 * k + alpha + beta
    with np.errstate(divide="ignore", invalid="ignore"):
        diagonal = (beta**2 - alpha**2) / (total * (total + 2.0))
    diagonal[0] = (beta - alpha) / (alpha + beta + 2.0)
    j = k[1:]
    s = 2.0 * j + alpha + beta
    off = np.sqrt(
        4.0 * j * (j + alpha) * (j + beta) * (j + alpha + beta) / (s**2 * (s + 1.0) * (s - 1.0))
    )
    u, vectors = linalg.eigh_tridiagonal(diagonal, off)
    weights = vectors[0, :] ** 2
    nodes = np.clip((1.0 + u) / 2.0, 1e-300, 1.0)
    return nodes.astype(np.float64), (weights / weights.sum()).astype(np.float64)


class GammaGamma:
    """Gamma-Gamma model of spend per transaction, estimator style.

    Fitted on customers with at least one repeat purchase; ``monetary`` is the
    mean value of their repeat transactions. Assumes spend does not depend on
    purchase frequency (check with :func:`numpy.corrcoef` before trusting it).
    """

    @property
    def params_(self) -> GammaGammaParams:
        params: GammaGammaParams | None = getattr(self, "_params", None)
        if params is None:
            raise NotFittedError("This GammaGamma is not fitted yet; call fit(x, monetary) first.")
        return params

    @classmethod
    def from_params(cls, params: GammaGammaParams) -> GammaGamma:
        model = cls()
        model._params = params
        return model

    def fit(self, x: npt.ArrayLike, monetary: npt.ArrayLike) -> GammaGamma:
        xs = np.asarray(x, dtype=np.float64)
        ms = np.asarray(monetary, dtype=np.float64)
        keep = xs > 0
        if (ms[keep] <= 0).any() or not np.isfinite(ms[keep]).all():
            raise InvalidInputError(
                "Gamma-Gamma needs a positive mean spend for every repeat buyer; "
                f"{int(((ms[keep] <= 0) | ~np.isfinite(ms[keep])).sum())} have none"
            )
        if keep.sum() < 2:
            raise ConvergenceError("Gamma-Gamma needs at least two repeat buyers")
        (ux, um), weights = _unique_rows(xs[keep], ms[keep])

        def negative_ll(log_params: FloatArray) -> float:
            p, q, gamma = np.exp(log_params)
            ll = (
                special.gammaln(p * ux + q)
                - special.gammaln(p * ux)
                - special.gammaln(q)
                + q * np.log(gamma)
                + (p * ux - 1.0) * np.log(um)
                + p * ux * np.log(ux)
                - (p * ux + q) * np.log(gamma + ux * um)
            )
            return -float(np.dot(weights, ll)) / float(weights.sum())

        scale = float(np.median(um))
        starts = [np.log([1.0, 2.0, scale]), np.log([6.0, 4.0, 15.0]), np.log([2.0, 8.0, scale])]
        p, q, gamma = (
            float(v) for v in np.exp(_fit_log_params(negative_ll, starts, "Gamma-Gamma"))
        )
        if q <= 1.0:
            raise ConvergenceError(
                f"Gamma-Gamma estimated q={q:.3f} <= 1, so mean spend is undefined; "
                "the spend data are too heavy-tailed for this model"
            )
        self._params = GammaGammaParams(p=p, q=q, gamma=gamma)
        return self

    def expected_spend(self, x: npt.ArrayLike, monetary: npt.ArrayLike) -> FloatArray:
        """Expected spend per transaction, shrunk from each customer's mean to the population's."""
        xs = np.asarray(x, dtype=np.float64)
        ms = np.nan_to_num(np.asarray(monetary, dtype=np.float64), nan=0.0)
        p = self.params_
        return np.asarray((p.p * (p.gamma + xs * ms)) / (p.p * xs + p.q - 1.0), dtype=np.float64)
