"""Blending sources into one ranking, with weights learned on held-out items.

Each source's row of scores becomes a distribution over items — a softmax
for models trained with cross-entropy, a share of the row's total for
co-occurrence counts — and the blend is their weighted mixture, so a source
that is confident for this user counts for more than one that is not. The
weights are found by coordinate ascent on NDCG@10 of each user's held-out
next item; a source whose weight ends at zero is reported as not helping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from retain.recommend.metrics import mask_history, ranking_metrics

__all__ = ["Blend", "fit_blend", "to_distribution"]

Transform = Literal["softmax", "share"]

_GRID: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


def to_distribution(scores: np.ndarray, transform: Transform) -> np.ndarray:
    """Rows of scores as rows of probabilities (column 0, padding, gets 0)."""
    s = np.asarray(scores, dtype=np.float32).copy()
    if transform == "softmax":
        s[:, 0] = -np.inf
        s -= s.max(axis=1, keepdims=True)
        np.exp(s, out=s)
    else:
        s[:, 0] = 0.0
        np.maximum(s, 0.0, out=s)
    total = s.sum(axis=1, keepdims=True)
    out: np.ndarray = np.divide(s, total, out=np.zeros_like(s), where=total > 0)
    return out


@dataclass
class Blend:
    """Weights per source name and how each source's scores are normalised."""

    weights: dict[str, float]
    transforms: dict[str, Transform]
    valid_ndcg10: float = 0.0
    trace: list[dict[str, float]] = field(default_factory=list)

    def combine(self, per_source: Mapping[str, np.ndarray]) -> np.ndarray:
        out: np.ndarray | None = None
        for name, weight in self.weights.items():
            if weight <= 0 or name not in per_source:
                continue
            part = weight * to_distribution(per_source[name], self.transforms[name])
            out = part if out is None else out + part
        if out is None:
            raise ValueError("the blend has no source with a positive weight")
        return out


def _ndcg10(mixture: np.ndarray, targets: np.ndarray) -> float:
    t = mixture[np.arange(len(targets)), targets][:, None]
    ranks = (mixture > t).sum(axis=1) + (mixture == t).sum(axis=1) - 1
    ranks[np.isneginf(t[:, 0])] = mixture.shape[1]
    return ranking_metrics(ranks, (10,))["ndcg@10"]


def fit_blend(
    per_source: Mapping[str, np.ndarray],
    transforms: Mapping[str, Transform],
    histories: Sequence[np.ndarray],
    targets: np.ndarray,
    rounds: int = 3,
    floor: Mapping[str, float] | None = None,
) -> Blend:
    """Coordinate ascent over a weight grid, maximising NDCG@10 on ``targets``.

    ``floor`` keeps a minimum weight for a source (popularity, so users whose
    other rows are empty still get a ranking).
    """
    dists = {
        name: mask_history(to_distribution(s, transforms[name]), histories)
        for name, s in per_source.items()
    }
    names = list(dists)
    floor = dict(floor or {})
    weights = {name: max(1.0, floor.get(name, 0.0)) for name in names}

    def evaluate(w: Mapping[str, float]) -> float:
        mix = sum(w[n] * dists[n] for n in names if w[n] > 0)
        if isinstance(mix, int):
            return 0.0
        return _ndcg10(np.asarray(mix), targets)

    best = evaluate(weights)
    trace = [{**weights, "ndcg@10": best}]
    for _ in range(rounds):
        improved = False
        for name in names:
            for value in _GRID:
                if value < floor.get(name, 0.0) or value == weights[name]:
                    continue
                trial = {**weights, name: value}
                score = evaluate(trial)
                if score > best + 1e-6:
                    best, weights, improved = score, trial, True
            trace.append({**weights, "ndcg@10": best})
        if not improved:
            break
    return Blend(weights, dict(transforms), best, trace)
