"""A fitted recommender on disk: JSON, NumPy arrays and a PyTorch state, no pickle.

A model is a folder, so the service can load the one a training run wrote
while the next run writes a new folder. Loading rebuilds each source from
its arrays alone; nothing is refitted. Files a source did not write are
simply absent (a model fitted without ALS has no ALS factors).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import scipy.sparse as sp

from retain.errors import NotFoundError
from retain.recommend.blend import Blend
from retain.recommend.components import item_knn, profile_knn
from retain.recommend.sasrec import SASRec
from retain.recommend.sequences import ItemIndex
from retain.recommend.settings import (
    TRANSFORMS,
    FitReport,
    settings_from_json,
    settings_to_json,
)
from retain.recommend.sources import ALS, ContentSimilarity, Popularity, Source, TransitionKNN

if TYPE_CHECKING:
    from retain.recommend.recommender import Recommender

__all__ = ["load_recommender", "save_recommender"]


def save_recommender(rec: Recommender, folder: Path) -> None:
    """Write ``rec`` into ``folder`` (JSON, NumPy and a PyTorch state; no pickle)."""
    if rec.blend is None:
        raise NotFoundError("nothing to save: the recommender is not fitted")
    folder.mkdir(parents=True, exist_ok=True)
    users = list(rec.histories)
    lengths = np.array([len(rec.histories[u]) for u in users], np.int64)
    flat = np.concatenate([rec.histories[u] for u in users]) if users else np.array([], np.int32)
    arrays: dict[str, np.ndarray] = {"lengths": lengths, "flat": flat.astype(np.int32)}
    pop = cast(Popularity, rec.sources["popularity"])
    arrays["popularity"] = pop.counts
    als = rec.sources.get("als")
    if isinstance(als, ALS) and als.item_factors is not None:
        arrays["als"] = als.item_factors
    content = rec.sources.get("content")
    if isinstance(content, ContentSimilarity):
        arrays["content"] = content.vectors
    np.savez_compressed(folder / "arrays.npz", allow_pickle=False, **arrays)
    for name in ("item_knn", "transition"):
        src = rec.sources.get(name)
        matrix = (
            getattr(src, "similarity", None)
            if name == "item_knn"
            else getattr(src, "transitions", None)
        )
        if matrix is not None:
            sp.save_npz(folder / f"{name}.npz", matrix)
    sasrec = rec.sources.get("sasrec")
    if isinstance(sasrec, SASRec):
        import torch

        torch.save(sasrec.state(), folder / "sasrec.pt")
    meta = {
        "settings": settings_to_json(rec.settings),
        "item_ids": [str(i) for i in rec.items.ids[1:]],
        "categories": list(rec.categories[1:]),
        "names": [str(t or "") for t in rec.names[1:]],
        "texts": [str(t or "") for t in rec.texts[1:]],
        "available": [bool(a) for a in rec.available[1:]],
        "products": list(rec.products[1:]),
        "users": [str(u) for u in users],
        "impressions": {u: {str(c): n for c, n in d.items()} for u, d in rec.impressions.items()},
        "blend": {"weights": rec.blend.weights, "valid_ndcg10": rec.blend.valid_ndcg10},
        "report": asdict(rec.report) if rec.report else None,
    }
    (folder / "recommender.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")


def load_recommender(cls: type[Recommender], folder: Path) -> Recommender:
    """Read a model written by :func:`save_recommender` into a new ``cls``."""
    meta_path = folder / "recommender.json"
    if not meta_path.is_file():
        raise NotFoundError(f"no recommender model in {folder}")
    meta = json.loads(meta_path.read_text("utf-8"))
    rec = cls(settings_from_json(meta["settings"]))
    rec.items = ItemIndex.from_ids(meta["item_ids"])
    rec.categories = np.array([None, *meta["categories"]], dtype=object)
    rec.names = np.array(["", *meta["names"]], dtype=object)
    rec.texts = np.array(["", *meta["texts"]], dtype=object)
    rec.available = np.array([False, *meta["available"]])
    # A model saved before variants were known has none.
    rec.set_products(meta.get("products") or [None] * len(meta["item_ids"]))
    arrays = np.load(folder / "arrays.npz")
    splits = np.cumsum(arrays["lengths"])[:-1]
    rec.histories = dict(zip(meta["users"], np.split(arrays["flat"], splits), strict=True))
    rec.impressions = {
        u: {int(c): int(n) for c, n in d.items()} for u, d in meta["impressions"].items()
    }
    sources: dict[str, Source] = {
        "popularity": Popularity(
            counts=arrays["popularity"],
            half_life_days=rec.settings.popularity_half_life_days,
        )
    }
    if (folder / "item_knn.npz").is_file():
        similarity = sp.load_npz(folder / "item_knn.npz").tocsr()
        sources["item_knn"] = item_knn(similarity)
        sources["profile"] = profile_knn(similarity)
    if (folder / "transition.npz").is_file():
        sources["transition"] = TransitionKNN(
            transitions=sp.load_npz(folder / "transition.npz").tocsr()
        )
    if "als" in arrays:
        sources["als"] = ALS(item_factors=arrays["als"])
    if "content" in arrays:
        sources["content"] = ContentSimilarity(arrays["content"])
    if (folder / "sasrec.pt").is_file():
        import torch

        model = SASRec(rec.settings.sasrec)
        model.load_state(rec.items.n_items, torch.load(folder / "sasrec.pt", weights_only=True))
        sources["sasrec"] = model
    rec.sources = sources
    rec.blend = Blend(
        {k: float(v) for k, v in meta["blend"]["weights"].items()},
        dict(TRANSFORMS),
        float(meta["blend"]["valid_ndcg10"]),
    )
    if meta.get("report"):
        rec.report = FitReport(**meta["report"])
    return rec
