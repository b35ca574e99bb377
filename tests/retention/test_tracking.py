"""Experiments in the store: logged exposure, horizons read only once they have passed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.errors import InvalidInputError, NotFoundError
from retain.retention.tracking import experiment_report, log_assignments

EXPOSED = dt.datetime(2025, 3, 1, 12, 0)


def test_treatment_effect_is_found_and_pending_horizons_wait(store: Store) -> None:
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(4000)]
    log = log_assignments(store, "spring", users, holdout=0.5, exposed_at=EXPOSED)
    treated = dict(zip(log.user_id, log.variant == "treatment", strict=True))
    rows = []
    for i, user in enumerate(users):
        rows.append((f"pre{i}", user, "2025-01-15", float(rng.gamma(2, 20))))
        chance = 0.30 if treated[user] else 0.20
        if rng.random() < chance:  # bought again within 20 days of exposure
            day = EXPOSED + dt.timedelta(days=int(rng.integers(0, 20)))
            rows.append((f"post{i}", user, day.isoformat(), float(rng.gamma(2, 20))))
    rows.append(("last", "u0", "2025-04-10", 5.0))  # the data run to 10 April
    orders = pa.table(dict(zip(("order_id", "user_id", "ts", "amount"), zip(*rows, strict=True),
                               strict=True)))  # fmt: skip
    ingest_arrow(store, "orders", orders, source="t", now=dt.datetime(2030, 1, 1))
    by_days = {r.days: r for r in experiment_report(store, "spring")}
    d30 = by_days[30]
    assert d30.ready and d30.repurchase is not None and d30.revenue is not None
    assert d30.repurchase.ci_low < 0.10 < d30.repurchase.ci_high and d30.repurchase.significant
    assert d30.revenue.difference > 0
    assert not by_days[90].ready and by_days[90].ends == dt.date(2025, 5, 30)
    assert abs((log.variant == "control").mean() - 0.5) < 0.03


def test_names_and_shares_are_checked(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no experiments yet"):
        experiment_report(store, "x")
    log_assignments(store, "a", ["u1", "u2"], holdout=0.5, exposed_at=EXPOSED)
    with pytest.raises(InvalidInputError, match="already exists"):
        log_assignments(store, "a", ["u3"], holdout=0.5, exposed_at=EXPOSED)
    with pytest.raises(InvalidInputError, match="holdout must be a share"):
        log_assignments(store, "b", ["u3"], holdout=1.5, exposed_at=EXPOSED)
    with pytest.raises(NotFoundError, match="known: a"):
        experiment_report(store, "nope")
