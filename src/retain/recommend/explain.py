"""Why an item is recommended, in words a customer reads.

The reason names the source that contributed most to the item and the item
of the customer's recent history that most explains it for that source.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from retain.recommend.sasrec import SASRec
from retain.recommend.sources import ALS, ContentSimilarity, ItemKNN, Source, TransitionKNN

__all__ = ["PHRASES", "anchor"]

#: The reason given for an item, by the source that contributed most to it.
PHRASES: Mapping[str, str] = {
    "transition": "often bought after {}",
    "item_knn": "customers who bought {} also bought this",
    "profile": "in line with what you keep coming back to, like {}",
    "als": "liked by shoppers with tastes like yours (you chose {})",
    "content": "similar to {}",
    "sasrec": "fits what you have been shopping for lately, like {}",
}


def anchor(source: Source | None, code: int, recent: np.ndarray) -> int:
    """The item of ``recent`` (codes, oldest first) that most explains ``code`` for
    ``source``; the latest one when the source cannot tell."""
    if isinstance(source, TransitionKNN) and source.transitions is not None:
        strength = _entries(source.transitions, recent, code)
    elif isinstance(source, ItemKNN) and source.similarity is not None:
        strength = _entries(source.similarity, recent, code)
    elif isinstance(source, ContentSimilarity):
        strength = source.vectors[recent] @ source.vectors[code]
    elif isinstance(source, SASRec):
        vectors = source.item_vectors()
        strength = vectors[recent] @ vectors[code]
    elif isinstance(source, ALS) and source.item_factors is not None:
        strength = source.item_factors[recent] @ source.item_factors[code]
    else:
        return int(recent[-1])
    if not np.any(strength > 0):
        return int(recent[-1])
    # Ties go to the most recent item.
    return int(recent[len(recent) - 1 - int(np.argmax(strength[::-1]))])


def _entries(matrix: sp.csr_matrix, rows: np.ndarray, column: int) -> np.ndarray:
    """``matrix[rows, column]`` read straight from the CSR arrays.

    scipy's fancy indexing builds a matrix per call (~0.2 ms); a request
    explains ten items, so this matters for latency.
    """
    out = np.zeros(len(rows), np.float32)
    for n, r in enumerate(rows):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        cols = matrix.indices[lo:hi]
        hits = np.flatnonzero(cols == column)
        if len(hits):
            out[n] = matrix.data[lo + hits[0]]
    return out
