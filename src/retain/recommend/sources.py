"""Candidate sources: each scores every item for a batch of histories.

A source is fitted on :class:`~retain.recommend.sequences.Sequences` and
answers ``score(histories) -> (batch, n_items + 1)`` (column 0 is padding).
Scores only need to rank items within one row; the blender normalises them.
All sources here work from a history alone, so an anonymous session's recent
items are served exactly like a known user's past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from retain.recommend.sequences import Sequences

__all__ = ["ALS", "ContentSimilarity", "ItemKNN", "Popularity", "Source", "TransitionKNN"]


class Source(Protocol):
    """What the recommender needs from a candidate source."""

    name: str

    def fit(self, train: Sequences) -> None: ...

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray: ...


def _weighted_rows(
    histories: Sequence[np.ndarray], n_items: int, last: int | None, decay: float
) -> sp.csr_matrix:
    """One sparse row per history: weight ``decay**k`` on the k-th latest item."""
    rows, cols, vals = [], [], []
    for r, h in enumerate(histories):
        tail = h[-last:] if last else h
        k = np.arange(len(tail) - 1, -1, -1)
        rows.append(np.full(len(tail), r))
        cols.append(tail)
        vals.append(decay**k)
    if not rows:
        return sp.csr_matrix((len(histories), n_items + 1), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(histories), n_items + 1),
        dtype=np.float32,
    )


def _spread(
    matrix: sp.csr_matrix, histories: Sequence[np.ndarray], last: int | None, decay: float
) -> np.ndarray:
    """Scores from an item-to-item matrix: the history's weighted rows, summed."""
    if len(histories) == 1:  # one request: read the CSR rows directly (no scipy overhead)
        tail = histories[0][-last:] if last else histories[0]
        out = np.zeros(matrix.shape[1], np.float32)
        for k, item in enumerate(tail[::-1]):
            lo, hi = matrix.indptr[item], matrix.indptr[item + 1]
            out[matrix.indices[lo:hi]] += np.float32(decay**k) * matrix.data[lo:hi]
        return out[None, :]
    weights = _weighted_rows(histories, matrix.shape[0] - 1, last, decay)
    return np.asarray((weights @ matrix).todense(), dtype=np.float32)


def _top_k_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row (the item's nearest neighbours)."""
    matrix = matrix.tocsr()
    indptr, indices, data = [0], [], []
    for r in range(matrix.shape[0]):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        row_data, row_idx = matrix.data[lo:hi], matrix.indices[lo:hi]
        if hi - lo > k:
            top = np.argpartition(-row_data, k)[:k]
            row_data, row_idx = row_data[top], row_idx[top]
        indices.append(row_idx)
        data.append(row_data)
        indptr.append(indptr[-1] + len(row_idx))
    return sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.array(indptr)),
        shape=matrix.shape,
        dtype=np.float32,
    )


@dataclass
class Popularity:
    """How often each item was chosen lately: the fallback for users with no history.

    With ``half_life_days`` and timestamped histories, an interaction counts
    ``0.5 ** (age / half_life_days)``, its age taken from the newest
    interaction, so what sells now outranks what sold last season; all-time
    counts, scaled by 1e-6, break ties among items whose interactions have
    all faded (and keep every chosen item above zero, so an item is only
    "new" when nobody ever chose it). Without timestamps every interaction
    counts 1.
    """

    name: str = "popularity"
    counts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.float32))
    half_life_days: float | None = None

    def fit(self, train: Sequences) -> None:
        _, cols = train.to_pairs()
        size = train.n_items + 1
        counts = np.bincount(cols, minlength=size).astype(np.float64)
        if self.half_life_days and train.times is not None and len(cols):
            stamps = np.concatenate(train.times)
            age_days = (stamps.max() - stamps) / 86_400.0
            recent = np.bincount(
                cols, weights=0.5 ** (age_days / self.half_life_days), minlength=size
            )
            counts = recent + 1e-6 * counts
        self.counts = counts.astype(np.float32)
        self.counts[0] = 0.0

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(histories), len(self.counts))).copy()


@dataclass
class ItemKNN:
    """Item-to-item cosine similarity over users' histories ("often bought with").

    A history is scored from its ``last`` items, the k-th latest weighted
    ``decay**k``. ``shrink`` damps similarities resting on few shared users.
    """

    name: str = "item_knn"
    neighbours: int = 100
    last: int | None = 3
    decay: float = 1.0
    shrink: float = 0.0
    similarity: sp.csr_matrix | None = None

    def fit(self, train: Sequences) -> None:
        rows, cols = train.to_pairs()
        n = train.n_items + 1
        x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(train), n))
        x.data[:] = 1.0  # repeats count once
        co = (x.T @ x).tocsr().astype(np.float32)
        co.setdiag(0.0)
        co.eliminate_zeros()
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel()).astype(np.float32)
        co = co.tocoo()
        denom = norms[co.row] * norms[co.col] + self.shrink
        sim = sp.csr_matrix((co.data / denom, (co.row, co.col)), shape=(n, n), dtype=np.float32)
        self.similarity = _top_k_per_row(sim, self.neighbours)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        assert self.similarity is not None, "fit first"
        return _spread(self.similarity, histories, self.last, self.decay)


@dataclass
class TransitionKNN:
    """Directed "bought next" counts: item j followed item i within ``window`` steps.

    Unlike :class:`ItemKNN` it knows order, which is what a sequence's next
    item depends on most. Each row is divided by the square root of its
    total, so a best-seller's followers do not drown everything else.
    """

    name: str = "transition"
    window: int = 5
    neighbours: int = 200
    last: int | None = 10
    decay: float = 0.5
    transitions: sp.csr_matrix | None = None

    def fit(self, train: Sequences) -> None:
        n = train.n_items + 1
        src, dst, val = [], [], []
        for h in train.histories:
            for gap in range(1, self.window + 1):
                if len(h) > gap:
                    src.append(h[:-gap])
                    dst.append(h[gap:])
                    val.append(np.full(len(h) - gap, 1.0 / gap, np.float32))
        if not src:
            self.transitions = sp.csr_matrix((n, n), dtype=np.float32)
            return
        t = sp.csr_matrix(
            (np.concatenate(val), (np.concatenate(src), np.concatenate(dst))),
            shape=(n, n),
            dtype=np.float32,
        )
        out = np.asarray(t.sum(axis=1)).ravel()
        t = sp.diags(1.0 / np.maximum(out, 1.0) ** 0.5).astype(np.float32) @ t
        self.transitions = _top_k_per_row(t.tocsr(), self.neighbours)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        assert self.transitions is not None, "fit first"
        return _spread(self.transitions, histories, self.last, self.decay)


@dataclass
class ALS:
    """Implicit-feedback matrix factorisation (``implicit``'s ALS).

    A history's user vector is solved afresh from its items, so users unseen
    in training and anonymous sessions get one too.
    """

    name: str = "als"
    factors: int = 128
    iterations: int = 15
    regularization: float = 0.05
    alpha: float = 1.0
    seed: int = 0
    item_factors: np.ndarray | None = None
    _gram_cache: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def fit(self, train: Sequences) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        rows, cols = train.to_pairs()
        user_items = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)),
            shape=(len(train), train.n_items + 1),
        )
        # implicit parallelises itself; a threaded BLAS underneath only contends.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                iterations=self.iterations,
                regularization=self.regularization,
                alpha=self.alpha,
                random_state=self.seed,
                calculate_training_loss=False,
            )
            model.fit(user_items, show_progress=False)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)

    def user_vectors(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Solve each history's user vector against the fixed item factors.

        The same normal equations ALS solves for a training user (Hu, Koren &
        Volinsky, 2008), with confidence ``1 + alpha`` on the history's items.
        """
        assert self.item_factors is not None, "fit first"
        y = self.item_factors
        gram = self._gram()
        out = np.zeros((len(histories), y.shape[1]), dtype=np.float32)
        for row, history in enumerate(histories):
            items = np.unique(history)
            if len(items) == 0:
                continue
            yi = y[items]
            a = gram + self.alpha * (yi.T @ yi)
            b = (1.0 + self.alpha) * yi.sum(axis=0)
            out[row] = np.linalg.solve(a, b)
        return out

    def _gram(self) -> np.ndarray:
        """YᵀY + λI, computed once per set of item factors."""
        assert self.item_factors is not None, "fit first"
        y = self.item_factors
        if self._gram_cache is None or self._gram_cache[0] is not y:
            gram = y.T @ y + self.regularization * np.eye(y.shape[1], dtype=np.float32)
            self._gram_cache = (y, gram)
        return self._gram_cache[1]

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        assert self.item_factors is not None, "fit first"
        out: np.ndarray = self.user_vectors(histories) @ self.item_factors.T
        return out


@dataclass
class ContentSimilarity:
    """Items like the ones in the history, by what their text says.

    ``vectors`` are unit-length text embeddings, row 0 (padding) zero. The
    only source that can rank an item nobody has bought yet, so new catalogue
    entries get shown.
    """

    vectors: np.ndarray
    name: str = "content"
    last: int | None = 5
    decay: float = 0.7

    def fit(self, train: Sequences) -> None:
        """Nothing to learn from behaviour; the text is the model."""

    def profile(self, history: np.ndarray) -> np.ndarray:
        """The history's text vector: its recent items' vectors, weighted."""
        tail = history[-self.last :] if self.last else history
        weights = self.decay ** np.arange(len(tail) - 1, -1, -1, dtype=np.float32)
        profile: np.ndarray = weights @ self.vectors[tail]
        return profile

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        if len(histories) == 1:  # one request: a matrix-vector product
            single: np.ndarray = (self.vectors @ self.profile(histories[0]))[None, :]
            return single
        n = self.vectors.shape[0] - 1
        weights = _weighted_rows(histories, n, self.last, self.decay)
        profile = np.asarray(weights @ self.vectors, dtype=np.float32)
        out: np.ndarray = profile @ self.vectors.T
        return out
