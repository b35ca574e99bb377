"""Purchase logs simulated from BG/NBD + Gamma-Gamma with known parameters.

Used to test that the fit recovers the parameters that generated the data,
and to benchmark fit-and-score time on a million customers, neither of which a
real data set of that size with known truth would allow.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from retain.predict.btyd import BetaGeoParams, GammaGammaParams

__all__ = ["CDNOW_PARAMS", "CDNOW_SPEND", "simulate_orders"]

#: Fader, Hardie & Lee (2005), CDNOW sample, weeks.
CDNOW_PARAMS = BetaGeoParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
#: Fader, Hardie & Lee (2005b), CDNOW sample spend.
CDNOW_SPEND = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def simulate_orders(
    customers: int,
    *,
    params: BetaGeoParams = CDNOW_PARAMS,
    spend: GammaGammaParams = CDNOW_SPEND,
    start: dt.date = dt.date(2024, 1, 1),
    acquisition_weeks: float = 12.0,
    total_weeks: float = 78.0,
    seed: int = 0,
) -> pa.Table:
    """Orders (``order_id, user_id, ts, amount``) of ``customers`` simulated buyers.

    Each customer's first purchase falls uniformly in the first
    ``acquisition_weeks``; after it, purchases follow a Poisson process with
    rate ``lambda ~ Gamma(r, alpha)`` and after each repeat purchase the
    customer drops out with probability ``p ~ Beta(a, b)``, until
    ``total_weeks``. Spend per purchase is Gamma-Gamma distributed.
    """
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params.r, 1.0 / params.alpha, customers)
    dropout = rng.beta(params.a, params.b, customers)
    nu = rng.gamma(spend.q, 1.0 / spend.gamma, customers)
    first = rng.uniform(0.0, acquisition_weeks, customers)
    owners = [np.arange(customers)]
    times = [first]
    clock = first.copy()
    active = np.arange(customers)
    while active.size:
        clock[active] += rng.exponential(1.0, active.size) / np.maximum(rate[active], 1e-12)
        active = active[clock[active] < total_weeks]
        owners.append(active)
        times.append(clock[active].copy())
        alive = rng.random(active.size) >= dropout[active]
        active = active[alive]
    who = np.concatenate(owners)
    week = np.concatenate(times)
    amount = rng.gamma(spend.p, 1.0 / nu[who])
    order = np.lexsort((week, who))
    who, week, amount = who[order], week[order], amount[order]
    stamps = np.datetime64(start, "s") + (week * 7 * 86400).astype("timedelta64[s]")
    return pa.table(
        {
            "order_id": pa.array(np.char.add("S", np.arange(who.size).astype(str))),
            "user_id": pa.array(np.char.add("C", who.astype(str))),
            "ts": pa.array(stamps.astype("datetime64[us]")),
            "amount": pa.array(np.round(amount, 2)),
        }
    )
