"""Learned segments find planted groups and describe them by what sets them apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from retain.errors import InvalidInputError
from retain.features.customer import FEATURE_DESCRIPTIONS
from retain.retention.clusters import ClusterModel, cluster_customers, fit_clusters


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


def test_a_number_of_segments_that_cannot_be_had_is_refused() -> None:
    frame, _ = _planted()
    for k in (0, 1):
        with pytest.raises(InvalidInputError, match=f"at least 2; got {k}"):
            fit_clusters(frame, k=k)
    repeated = pd.DataFrame({"user_id": [f"u{i}" for i in range(40)], "x": [1.0, 5.0] * 20})
    with pytest.raises(InvalidInputError, match=r"asked for 3 segments, but .* only 2 distinct"):
        fit_clusters(repeated, k=3)
    assert len(fit_clusters(repeated).centres) == 2  # chosen k stops at the distinct profiles


def _group_of(labels: pd.DataFrame, frame: pd.DataFrame, groups: np.ndarray) -> dict[int, int]:
    """Planted group -> the cluster number most of its customers got."""
    joined = labels.assign(group=groups[frame.index.to_numpy()])
    return {int(g): int(rows.cluster.mode()[0]) for g, rows in joined.groupby("group")}


def test_a_fresh_fit_numbers_clusters_largest_first() -> None:
    frame, groups = _planted()
    frame = frame.drop(index=range(0, 200))  # group 0 is now the smallest
    model = fit_clusters(frame, k=3)
    labels, clusters = model.summarize(frame)
    assert [c.label for c in clusters] == [0, 1, 2]
    assert abs(clusters[-1].customers - 100) <= 5 and _group_of(labels, frame, groups)[0] == 2


def test_a_saved_model_assigns_as_the_fitted_one(tmp_path: Path) -> None:
    frame, _ = _planted()
    model = fit_clusters(frame)
    model.save(tmp_path)
    loaded = ClusterModel.load(tmp_path)
    assert loaded == model
    new_customers, _ = _planted(n_per_group=20, seed=5)
    new_customers = new_customers.drop(columns=["views"])  # a missing column takes the median
    assert loaded.assign(new_customers).equals(model.assign(new_customers))
    (tmp_path / "clusters.json").write_text('{"format": 99}')
    with pytest.raises(InvalidInputError, match="retrain"):
        ClusterModel.load(tmp_path)


def test_a_taste_model_saved_before_shares_were_rooted_assigns_as_it_did(
    tmp_path: Path,
) -> None:
    """Such a model has no ``rooted`` list: it reads shares as they are, as when fitted."""
    shares = pd.DataFrame({"user_id": ["a", "b", "c"], "taste:books": [0.9, 0.1, 0.5],
                           "taste:toys": [0.1, 0.9, 0.5]})  # fmt: skip
    old = ClusterModel(columns=["taste:books", "taste:toys"], fill=[0.5, 0.5],
                       mean=[0.5, 0.5], spread=[0.4, 0.4],
                       centres=[[1.0, -1.0], [-1.0, 1.0]], labels=[3, 7])  # fmt: skip
    old.save(tmp_path)
    saved = json.loads((tmp_path / "clusters.json").read_text())
    del saved["rooted"]
    (tmp_path / "clusters.json").write_text(json.dumps(saved))
    loaded = ClusterModel.load(tmp_path)
    assert loaded.rooted == []
    assert loaded.standardise(shares)[:, 0].tolist() == pytest.approx([1.0, -1.0, 0.0])
    assert loaded.assign(shares).cluster.tolist()[:2] == [3, 7]
    rooted = fit_clusters(pd.concat([shares] * 5, ignore_index=True), k=2, columns=old.columns)
    assert rooted.rooted == ["taste:books", "taste:toys"]


def test_a_refit_keeps_the_numbers_of_clusters_that_are_still_there() -> None:
    before, groups_before = _planted(seed=0)
    first = fit_clusters(before, k=3)
    named = _group_of(first.assign(before), before, groups_before)
    # New data, drawn afresh, where the complainers have grown: a plain refit
    # would number by size and move them to 0.
    after, groups_after = _planted(seed=1)
    extra, extra_groups = _planted(seed=2)
    grown = pd.concat([after, extra[extra_groups == 1]], ignore_index=True)
    grown_groups = np.concatenate([groups_after, extra_groups[extra_groups == 1]])
    plain = fit_clusters(grown, k=3)
    assert _group_of(plain.assign(grown), grown, grown_groups)[1] == 0 != named[1]
    refit = fit_clusters(grown, k=3, previous=first)
    assert _group_of(refit.assign(grown), grown, grown_groups) == named


def test_a_new_kind_of_customer_gets_a_number_never_used_before() -> None:
    frame, groups = _planted()
    two = frame[groups != 2].reset_index(drop=True)
    first = fit_clusters(two, k=2)
    refit = fit_clusters(frame, k=3, previous=first)
    labels = _group_of(refit.assign(frame), frame, groups)
    assert labels[0] in first.labels and labels[1] in first.labels
    assert labels[2] == max(first.labels) + 1


def test_a_taste_segment_says_what_it_buys_then_lists_what_it_seldom_buys() -> None:
    """A marketer reads "buy garden more than most (...); seldom buy toys or pets",
    not a run of "seldom buy" phrases ahead of what the segment is about."""
    rng = np.random.default_rng(0)
    names = ["taste:garden", "taste:books", "taste:toys", "taste:pets"]
    gardeners = np.tile([0.9, 0.1, 0.0, 0.0], (20, 1))
    others = rng.dirichlet([1.0, 4.0, 4.0, 4.0], 40)
    frame = pd.DataFrame(np.vstack([gardeners, others]), columns=names)
    frame.insert(0, "user_id", [f"u{i}" for i in range(60)])
    _, clusters = fit_clusters(frame, k=2, columns=names).summarize(frame)
    (garden,) = [c.description for c in clusters if c.customers == 20]
    assert re.fullmatch(
        r"buy garden more than most \(90% of their purchases, \d+% shop-wide\); "
        r"seldom buy (books|toys|pets) or (books|toys|pets)",
        garden,
    ), garden
