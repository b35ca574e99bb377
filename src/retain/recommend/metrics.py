"""Full-ranking metrics: the target is ranked against every item.

No sampled negatives: sampled metrics are known to reorder models (Krichene
& Rendle, KDD 2020). Items already in the input history are excluded from
the ranking, as a shop's recommender excludes them. Ties count against the
target (an item scored equal to the target ranks above it), so a source that
scores everything zero cannot look good by luck.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["CUTOFFS", "mask_history", "ranking_metrics", "target_ranks"]

CUTOFFS: tuple[int, ...] = (5, 10, 20)


def mask_history(scores: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
    """Set padding and already-seen items to -inf, in place."""
    scores[:, 0] = -np.inf
    for row, history in enumerate(histories):
        scores[row, history] = -np.inf
    return scores


def target_ranks(
    score: Callable[[Sequence[np.ndarray]], np.ndarray],
    histories: Sequence[np.ndarray],
    targets: np.ndarray,
    batch_size: int = 512,
) -> np.ndarray:
    """0-based rank of each target among all unseen items."""
    ranks = np.empty(len(targets), dtype=np.int64)
    for lo in range(0, len(targets), batch_size):
        hi = min(lo + batch_size, len(targets))
        hist = histories[lo:hi]
        s = mask_history(np.array(score(hist), dtype=np.float32, copy=True), hist)
        t = s[np.arange(hi - lo), targets[lo:hi]][:, None]
        ranks[lo:hi] = (s > t).sum(axis=1) + (s == t).sum(axis=1) - 1
        ranks[lo:hi][np.isneginf(t[:, 0])] = s.shape[1]
    return ranks


def ranking_metrics(ranks: np.ndarray, cutoffs: Sequence[int] = CUTOFFS) -> dict[str, float]:
    """HR@k and NDCG@k (one relevant item per user) from 0-based ranks."""
    out: dict[str, float] = {}
    for k in cutoffs:
        hit = ranks < k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    return out
