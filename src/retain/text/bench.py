"""``retain bench text-vectors``: what keeping text vectors in the store saves a retrain.

Protocol (the shop in the data directory, read only; nothing is written to it):

1. The texts are the catalogue's distinct item texts, built as the
   recommender builds them (title | brand | category | description).
2. A seeded ``changed`` share of them is altered (a suffix), as products
   whose title or description changed since the last training.
3. In a fresh in-memory store, :class:`~retain.text.stored_vectors.StoredVectors`
   embeds all original texts (``cold``: the first training, writes included),
   then the altered list (``warm``: the next retrain, reading the rest back).
4. Baseline in the same run: the plain encoder on the altered list, which
   is what every retrain did before the vectors were kept.
5. The warm vectors are compared with the baseline's: the largest absolute
   difference of any coordinate is in the JSON, so a reader sees they are
   the same vectors.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from retain.benchmarking import machine
from retain.data.store import Store
from retain.errors import NotFoundError
from retain.recommend.recommender import item_texts
from retain.text.encoder import DEFAULT_MODEL, load_encoder
from retain.text.stored_vectors import StoredVectors

__all__ = ["run_text_vectors_benchmark"]


def run_text_vectors_benchmark(
    store_url: str | Path, *, changed: float = 0.01, model: str = DEFAULT_MODEL, seed: int = 0
) -> dict[str, Any]:
    """Seconds to embed the shop's catalogue cold, warm and with the encoder alone."""
    with Store.open(store_url, read_only=True) as shop:
        texts = [t for t in dict.fromkeys(item_texts(shop.table("items"))) if t]
    if not texts:
        raise NotFoundError(f"the store {store_url} has no items with text to embed")
    rng = np.random.default_rng(seed)
    picked = set(rng.choice(len(texts), round(changed * len(texts)), replace=False).tolist())
    altered = [f"{t} (revised)" if i in picked else t for i, t in enumerate(texts)]
    encoder = load_encoder(model)
    encoder.encode(texts[:8])  # load the weights before any clock runs
    with Store.open(":memory:") as scratch:
        cache = StoredVectors(scratch)
        tick = time.perf_counter()
        cache.encode(encoder, texts)
        cold = time.perf_counter() - tick
        tick = time.perf_counter()
        warm_vectors = cache.encode(encoder, altered)
        warm = time.perf_counter() - tick
        reused, embedded = cache.reused, cache.embedded
    tick = time.perf_counter()
    plain = encoder.encode(altered)
    alone = time.perf_counter() - tick
    return {
        "benchmark": "text-vectors",
        "model": encoder.key,
        "texts": len(texts),
        "changed": len(picked),
        "metrics": {
            "cold_seconds": cold,
            "warm_seconds": warm,
            "reused": reused,
            "embedded": embedded,
            "max_abs_difference": float(np.abs(warm_vectors - plain).max()),
        },
        "baselines": {"encoder_only": {"warm_seconds": alone}},
        "speedup": alone / warm if warm > 0 else None,
        "machine": machine(),
    }
