"""The sources a recommender is built from, and the item-text vectors they share.

``Recommender.fit_sequences`` makes the set, fits it, tunes the blend and
fits it again; this module holds how each source is configured for the
served model (the benchmark configures its baselines itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from retain.recommend.sasrec import SASRec
from retain.recommend.settings import RecommendSettings
from retain.recommend.sources import (
    ALS,
    ContentSimilarity,
    ItemKNN,
    Popularity,
    Source,
    TransitionKNN,
)

if TYPE_CHECKING:
    from retain.text.stored_vectors import StoredVectors

__all__ = [
    "CONTENT_TEMPERATURE",
    "NOT_FITTED_HERE",
    "embed_item_texts",
    "fixed_scores",
    "item_knn",
    "make_sources",
    "profile_knn",
    "share_similarity",
]

#: Content scores are cosines in [-1, 1]; this sharpens them before the softmax.
CONTENT_TEMPERATURE = 0.05


def embed_item_texts(
    model: str | None,
    texts: Sequence[str],
    cache: StoredVectors | None,
    seconds: dict[str, float],
) -> np.ndarray | None:
    """Each item's text embedded by ``model`` (row 0, the padding, and empty texts
    are zeros); None when text is off or no item has any. ``seconds["text"]``
    gets the time taken. ``cache`` keeps vectors between fits, so a retrain
    embeds only new or changed texts."""
    if model is None or not any(texts):
        return None
    from retain.text import load_encoder

    t = time.perf_counter()
    # Catalogues repeat texts (92,331 grocery products have 3,867 distinct
    # ones): each is embedded once. All distinct, the call is unchanged.
    distinct = list(dict.fromkeys(texts))
    encoder = load_encoder(model)
    encoded = encoder.encode(distinct) if cache is None else cache.encode(encoder, distinct)
    position = {text: i for i, text in enumerate(distinct)}
    vectors = encoded[[position[text] for text in texts]]
    seconds["text"] = time.perf_counter() - t
    empty = np.array([not s for s in texts])
    vectors[empty] = 0.0
    return np.vstack([np.zeros((1, vectors.shape[1]), np.float32), vectors])


def make_sources(settings: RecommendSettings, vectors: np.ndarray | None) -> dict[str, Source]:
    """The unfitted sources ``settings`` ask for, by name; text-based ones only with ``vectors``."""
    sources: list[Source] = [
        Popularity(half_life_days=settings.popularity_half_life_days),
        item_knn(),
        profile_knn(),
        TransitionKNN(),
    ]
    if settings.als:
        sources.append(ALS(seed=settings.seed))
    if vectors is not None:
        sources.append(ContentSimilarity(vectors / CONTENT_TEMPERATURE))
    if settings.sequential:
        init = (
            _project(vectors, settings.sasrec.hidden, settings.seed)
            if vectors is not None
            else None
        )
        sources.append(SASRec(replace(settings.sasrec, seed=settings.seed), item_init=init))
    return {s.name: s for s in sources}


def item_knn(similarity: sp.csr_matrix | None = None) -> ItemKNN:
    """The recommender's item-kNN: every history item, recent ones weighted more.

    (The benchmark's item-kNN baseline keeps ``ItemKNN``'s last-3 default.)
    """
    return ItemKNN(last=None, decay=0.7, similarity=similarity)


def profile_knn(similarity: sp.csr_matrix | None = None) -> ItemKNN:
    """The same similarities read from the whole history, every item alike: the customer's
    lasting taste.

    ``item_knn`` leans on the last few items, which serves a shopper whose
    interest moves; a regular whose last visits strayed from what they
    usually buy is better served by everything they did. The blend weighs
    the two on held-out items. Its similarity matrix is ``item_knn``'s (same
    data, same settings), so a saved model stores it once.
    """
    return ItemKNN(name="profile", last=None, decay=1.0, similarity=similarity)


#: Sources the fitting loops skip: SASRec trains once with early stopping, and
#: ``profile`` takes ``item_knn``'s similarities (:func:`share_similarity`).
NOT_FITTED_HERE = ("sasrec", "profile")


def share_similarity(sources: Mapping[str, Source]) -> None:
    """Give ``profile`` the matrix ``item_knn`` just computed instead of computing it twice."""
    knn, profile = sources.get("item_knn"), sources.get("profile")
    if isinstance(knn, ItemKNN) and isinstance(profile, ItemKNN):
        profile.similarity = knn.similarity


def fixed_scores(scores: np.ndarray) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    """A score function that answers precomputed scores (one batch)."""

    def score(_histories: Sequence[np.ndarray]) -> np.ndarray:
        return scores

    return score


def _project(vectors: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """Text vectors reduced to ``dim`` by PCA (rows of zeros stay zero)."""
    x = vectors[1:] - vectors[1:].mean(axis=0)
    if dim >= x.shape[1]:
        out = np.zeros((len(vectors), dim), np.float32)
        out[:, : x.shape[1]] = vectors
        return out
    _, _, vt = np.linalg.svd(
        x[np.random.default_rng(seed).permutation(len(x))[:20000]], full_matrices=False
    )
    out = np.zeros((len(vectors), dim), np.float32)
    # A catalogue of fewer than ``dim`` items has fewer components: the rest stay 0.
    components = vt[:dim]
    out[1:, : len(components)] = x @ components.T
    return out
