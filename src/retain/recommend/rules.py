"""How the blended scores become a list a shop can show.

Taking the top items under a category cap with one variant per product,
and choosing the unbought items that earn a "new in the shop" slot: the
rules that work on scores and item codes alone. ``Recommender`` decides
which items are allowed for a customer and calls these.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from retain.recommend.sources import ContentSimilarity

__all__ = ["new_item_codes", "pick"]

#: An unbought item earns a "new in the shop" slot only when it is among the
#: catalogue's items most alike the customer's in text: the nearest 1%, and
#: at least the nearest 20 in a small catalogue.
_NEW_ITEM_SHARE = 0.01
_NEW_ITEM_NEIGHBOURS = 20
#: Texts this alike (cosine) are one text: one product listed twice, not a new one.
_TWIN_COSINE = 0.9999


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` scaled to length 1 (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return unit


def _a_twin(mine: np.ndarray, vector: np.ndarray) -> bool:
    """Whether ``vector`` is the very text of one of ``mine`` (unit vectors of the history).

    Catalogues list one product under two codes (Online Retail's heart
    holder as 85123A and 85123a; a relaunch with a new SKU): the unbought
    twin is no new product for someone who has the other.
    """
    return bool((mine @ _unit_rows(vector) >= _TWIN_COSINE).any())


def pick(
    scores: np.ndarray,
    allowed: np.ndarray,
    k: int,
    categories: np.ndarray,
    category_cap: int | None,
    product_of: np.ndarray | None,
) -> list[int]:
    """The codes of the ``k`` best-scored allowed items, at most ``category_cap`` of a
    category, and of variants of one product only the best-scored."""
    masked = np.where(allowed, scores, -np.inf)
    pool = min(len(masked), k * 8 if category_cap or product_of is not None else k)
    top = (
        np.argpartition(-masked, pool - 1)[:pool] if pool < len(masked) else np.arange(len(masked))
    )
    top = top[np.argsort(-masked[top], kind="stable")]
    picked: list[int] = []
    per_category: dict[Any, int] = {}
    products: set[int] = set()
    for i in top:
        if not np.isfinite(masked[i]):
            break
        category = categories[i]
        if category_cap and category is not None and per_category.get(category, 0) >= category_cap:
            continue
        if product_of is not None:  # one variant per product: its best-scored
            if int(product_of[i]) in products:
                continue
            products.add(int(product_of[i]))
        per_category[category] = per_category.get(category, 0) + 1
        picked.append(int(i))
        if len(picked) == k:
            break
    return picked


def new_item_codes(
    content: ContentSimilarity,
    fresh: np.ndarray,
    history: np.ndarray,
    product_of: np.ndarray | None,
    slots: int,
) -> list[int]:
    """Up to ``slots`` of the ``fresh`` items (unbought, allowed, not yet listed) most
    alike in text to ``history``, one per product, none a twin of a history item."""
    profile = content.profile(history)
    everything = content.vectors[1:] @ profile  # row 0 is the padding
    candidates = np.flatnonzero(fresh)
    row = everything[candidates - 1]
    order = np.argsort(-row, kind="stable")
    # "Like what you bought" must hold: among the catalogue's items most
    # alike in text, not merely the least unlike of the unbought ones (a
    # necklace offered to a buyer of storage jars). A rank, not a cosine,
    # so it means the same whatever the encoder's scale.
    near = max(_NEW_ITEM_NEIGHBOURS, math.ceil(_NEW_ITEM_SHARE * len(everything)))
    floor = np.partition(everything, -near)[-near] if near < len(everything) else -np.inf
    mine = _unit_rows(content.vectors[np.unique(history)])
    best: list[int] = []
    products: set[int] = set()
    for i in order:
        if row[i] <= 0 or row[i] < floor or len(best) == slots:
            break
        code = int(candidates[i])
        product = int(product_of[code]) if product_of is not None else code
        if product not in products and not _a_twin(mine, content.vectors[code]):
            best.append(code)
            products.add(product)
    return best
