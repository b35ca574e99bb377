"""Learned segments find planted groups and describe them by what sets them apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from retain.errors import InvalidInputError
from retain.features.customer import FEATURE_DESCRIPTIONS
from retain.retention.clusters import cluster_customers


def _planted(n_per_group: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat([0, 1, 2], n_per_group)
    n = len(groups)
    frame = pd.DataFrame({name: rng.normal(1.0, 0.1, n).clip(0) for name in FEATURE_DESCRIPTIONS})
    frame["support_contacts"] = np.where(groups == 1, rng.poisson(6, n), 0)  # complainers
    frame["views"] = np.where(groups == 2, rng.poisson(80, n), rng.poisson(5, n))  # browsers
    frame["x"] = np.where(groups == 0, rng.poisson(8, n), rng.poisson(1, n))  # loyal buyers
    frame.insert(0, "user_id", [f"u{i}" for i in range(n)])
    return frame, groups


def test_planted_groups_are_found_and_described() -> None:
    frame, groups = _planted()
    labels, clusters = cluster_customers(frame)
    assert adjusted_rand_score(groups, labels.cluster) > 0.9
    assert len(clusters) == 3 and sum(c.customers for c in clusters) == len(frame)
    descriptions = " | ".join(c.description for c in clusters)
    assert "contact customer service often" in descriptions
    assert "browse a lot" in descriptions and "buy again often" in descriptions


def test_too_few_customers_is_refused() -> None:
    frame, _ = _planted(n_per_group=2)
    with pytest.raises(InvalidInputError, match="at least 10 customers"):
        cluster_customers(frame)
