"""The recommender a shop runs: sources, a learned blend, business rules, reasons.

``Recommender.fit`` reads the canonical ``events`` (and ``items`` when there
is a catalogue). It holds out each user's latest item, fits every source on
the rest, stops the sequential model early and learns the blend on those
held-out items, then refits the cheap sources on everything, so the served
model knows every event up to the fit.

Rules a shop needs are applied at answer time, after the blend: already-bought
items are left out (except categories that are bought again and again),
unavailable items never appear, items shown many times without a click are
dropped, a category cap keeps the list varied, and promoted items can take
fixed slots. Every item comes with a reason in plain words.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from retain.data.user_ids import fold_email_id
from retain.errors import InvalidInputError, NotFoundError
from retain.recommend.blend import Blend, Transform, fit_blend, to_distribution
from retain.recommend.metrics import ranking_metrics, target_ranks
from retain.recommend.sasrec import SASRec, SASRecConfig
from retain.recommend.sequences import INTEREST_EVENTS, ItemIndex, Sequences, natural_key
from retain.recommend.sources import (
    ALS,
    ContentSimilarity,
    ItemKNN,
    Popularity,
    Source,
    TransitionKNN,
)
from retain.text.markup import plain_text

if TYPE_CHECKING:
    from retain.text.stored_vectors import StoredVectors

__all__ = [
    "MAX_K",
    "RecommendSettings",
    "Recommendation",
    "RecommendationList",
    "Recommender",
    "item_texts",
]

MAX_K = 500

#: How each source's scores become a distribution before blending.
TRANSFORMS: Mapping[str, Transform] = {
    "popularity": "share",
    "item_knn": "share",
    "profile": "share",
    "transition": "share",
    "als": "share",
    "content": "softmax",
    "sasrec": "softmax",
}

#: The reason given for an item, by the source that contributed most to it.
_PHRASES: Mapping[str, str] = {
    "transition": "often bought after {}",
    "item_knn": "customers who bought {} also bought this",
    "profile": "in line with what you keep coming back to, like {}",
    "als": "liked by shoppers with tastes like yours (you chose {})",
    "content": "similar to {}",
    "sasrec": "fits what you have been shopping for lately, like {}",
}

#: Content scores are cosines in [-1, 1]; this sharpens them before the softmax.
CONTENT_TEMPERATURE = 0.05

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


@dataclass(frozen=True)
class RecommendSettings:
    """What to train and which rules to apply.

    Attributes:
        sequential: Train the SASRec source (PyTorch).
        sasrec: Its hyper-parameters; ``max_seconds`` bounds training time.
        text_model: Sentence encoder for item text (content source and the
            SASRec's starting item embeddings); None turns text off.
        als: Train the matrix-factorisation source.
        exclude_seen: Leave out items the user already has.
        repurchasable_categories: Categories exempt from ``exclude_seen``.
        category_cap: At most this many items of one category per list.
        new_item_slots: Places per list kept for items nobody has bought
            yet, chosen by text similarity, so new products get seen.
        max_unclicked_impressions: Drop an item after this many showings
            to the user without a click, view or purchase.
        holdout_users: Users whose held-out item tunes the blend.
        holdout_cells: Tuning holds one dense users × items score matrix per
            source, so on a large catalogue fewer users tune (at least 200):
            92,000 grocery items with 2,377 tuning users took 15 GB.
        popularity_half_life_days: Age at which an interaction counts half
            in the popularity source, so it follows what sells now (None:
            all-time counts). On the choosing cutoffs of ``retain bench
            popularity`` on Online Retail, 3, 7 and 14 days tied; 14 is the
            longest of them, steadier for a shop with few sales a day.
        seed: For sampling and model initialisation.
    """

    sequential: bool = True
    sasrec: SASRecConfig = field(default_factory=SASRecConfig)
    text_model: str | None = "all-MiniLM-L6-v2"
    als: bool = True
    exclude_seen: bool = True
    repurchasable_categories: tuple[str, ...] = ()
    category_cap: int | None = None
    max_unclicked_impressions: int = 3
    new_item_slots: int = 1
    holdout_users: int = 5000
    holdout_cells: int = 64_000_000
    popularity_half_life_days: float | None = 14.0
    seed: int = 0

    def tuning_users(self, n_items: int) -> int:
        """How many users tune the blend on a catalogue of ``n_items``."""
        return min(self.holdout_users, max(200, self.holdout_cells // max(n_items, 1)))


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    score: float
    reason: str
    source: str
    promoted: bool = False


@dataclass(frozen=True)
class RecommendationList:
    """An answer: the items, and what the request contained that was not used."""

    user_id: str | None
    items: list[Recommendation]
    unknown_items: list[str]
    cold_start: bool


@dataclass
class FitReport:
    """What ``fit`` learned and how long it took."""

    users: int
    items: int
    interactions: int
    holdout_users: int
    blend_weights: dict[str, float]
    holdout_ndcg10: float
    holdout_by_source: dict[str, float]
    sasrec_epochs: int
    seconds: dict[str, float]


class Recommender:
    """See the module docstring. Build with ``Recommender(settings)``, then ``fit``."""

    def __init__(
        self,
        settings: RecommendSettings | None = None,
        *,
        text_vectors: StoredVectors | None = None,
    ) -> None:
        """``text_vectors`` keeps item-text embeddings between fits (in the store), so
        a retrain embeds only new or changed texts; without it every fit embeds all."""
        self.settings = settings or RecommendSettings()
        self.text_vectors = text_vectors
        self.items = ItemIndex.from_ids([])
        self.categories = np.array([None], dtype=object)
        self.names = np.array([""], dtype=object)
        self.texts = np.array([""], dtype=object)
        self.available = np.array([False])
        self.products = np.array([None], dtype=object)
        self._product_of: np.ndarray | None = None
        self.histories: dict[str, np.ndarray] = {}
        self.impressions: dict[str, dict[int, int]] = {}
        self.sources: dict[str, Source] = {}
        self.blend: Blend | None = None
        self.report: FitReport | None = None
        self._prior: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ fit
    def fit(self, events: pa.Table, items: pa.Table | None = None) -> Recommender:
        """Fit on canonical ``events`` and optionally the ``items`` catalogue."""
        catalogue = _catalogue(items)
        ids = set(catalogue)
        interest = events
        if "event_type" in events.column_names:
            interest = events.filter(pc.is_in(events["event_type"], pa.array(INTEREST_EVENTS)))
        ids.update(i for i in interest["item_id"].to_pylist() if i is not None)
        index = ItemIndex.from_ids(sorted(ids, key=natural_key))
        sequences = Sequences.from_events(events, index)
        if len(sequences) == 0:
            raise InvalidInputError("no view, cart or purchase events to learn from")
        self._set_catalogue(index, catalogue)
        self.impressions = _unclicked_impressions(events, index)
        return self.fit_sequences(sequences)

    def fit_sequences(
        self, sequences: Sequences, item_text: Sequence[str] | None = None
    ) -> Recommender:
        """Fit on ready-made sequences (the benchmark's entry point)."""
        cfg = self.settings
        started = time.perf_counter()
        seconds: dict[str, float] = {}
        if len(self.texts) != sequences.n_items + 1:
            self._set_catalogue(sequences.items, {})
        if item_text is not None:
            self.texts = np.array(["", *item_text], dtype=object)
        self.histories = dict(zip(sequences.users, sequences.histories, strict=True))
        rng = np.random.default_rng(cfg.seed)
        # Hold out each user's latest item to tune on.
        held = [i for i, h in enumerate(sequences.histories) if len(h) >= 2]
        train = sequences.without_last()
        sample: list[int] = (
            [
                int(i)
                for i in rng.choice(
                    held, min(cfg.tuning_users(sequences.n_items), len(held)), replace=False
                )
            ]
            if held
            else []
        )
        tune_inputs = [train.histories[i] for i in sample]
        tune_targets = np.array([sequences.histories[i][-1] for i in sample], dtype=np.int32)

        vectors = self._text_vectors(seconds)
        sources = self._make_sources(vectors, sequences.n_items)
        for name, source in sources.items():
            if name in _NOT_FITTED_HERE:
                continue
            t = time.perf_counter()
            source.fit(train)
            seconds[name] = time.perf_counter() - t
        _share_similarity(sources)
        if "sasrec" in sources and len(tune_targets):
            sasrec = cast(SASRec, sources["sasrec"])
            sasrec.fit(
                train,
                validate=lambda m: ranking_metrics(
                    target_ranks(m.score, tune_inputs, tune_targets), (10,)
                )["ndcg@10"],
            )
            seconds["sasrec"] = sasrec.train_seconds
        elif "sasrec" in sources:
            sources.pop("sasrec")

        by_source: dict[str, float] = {}
        if len(tune_targets):
            scores = {name: s.score(tune_inputs) for name, s in sources.items()}
            for name, s in scores.items():
                ranks = target_ranks(_fixed(s), tune_inputs, tune_targets, len(s))
                by_source[name] = ranking_metrics(ranks, (10,))["ndcg@10"]
            self.blend = fit_blend(scores, TRANSFORMS, tune_inputs, tune_targets)
        else:
            self.blend = Blend({"popularity": 1.0}, dict(TRANSFORMS))
        # Serve with everything known: refit the cheap sources on full histories.
        for name, source in sources.items():
            if name not in _NOT_FITTED_HERE:
                source.fit(sequences)
        _share_similarity(sources)
        self.sources = sources
        seconds["total"] = time.perf_counter() - started
        sasrec_model = sources.get("sasrec")
        self.report = FitReport(
            users=len(sequences),
            items=sequences.n_items,
            interactions=int(sum(len(h) for h in sequences.histories)),
            holdout_users=len(tune_targets),
            blend_weights=dict(self.blend.weights),
            holdout_ndcg10=self.blend.valid_ndcg10,
            holdout_by_source=by_source,
            sasrec_epochs=cast(SASRec, sasrec_model).best_epoch if sasrec_model else 0,
            seconds=seconds,
        )
        return self

    def _text_vectors(self, seconds: dict[str, float]) -> np.ndarray | None:
        model = self.settings.text_model
        texts = [str(t or "") for t in self.texts[1:]]
        if model is None or not any(texts):
            return None
        from retain.text import load_encoder

        t = time.perf_counter()
        # Catalogues repeat texts (92,331 grocery products have 3,867 distinct
        # ones): each is embedded once. All distinct, the call is unchanged.
        distinct = list(dict.fromkeys(texts))
        encoder = load_encoder(model)
        cache = self.text_vectors
        encoded = encoder.encode(distinct) if cache is None else cache.encode(encoder, distinct)
        position = {text: i for i, text in enumerate(distinct)}
        vectors = encoded[[position[text] for text in texts]]
        seconds["text"] = time.perf_counter() - t
        empty = np.array([not s for s in texts])
        vectors[empty] = 0.0
        return np.vstack([np.zeros((1, vectors.shape[1]), np.float32), vectors])

    def _make_sources(self, vectors: np.ndarray | None, n_items: int) -> dict[str, Source]:
        cfg = self.settings
        sources: list[Source] = [
            Popularity(half_life_days=cfg.popularity_half_life_days),
            _item_knn(),
            _profile_knn(),
            TransitionKNN(),
        ]
        if cfg.als:
            sources.append(ALS(seed=cfg.seed))
        if vectors is not None:
            sources.append(ContentSimilarity(vectors / CONTENT_TEMPERATURE))
        if cfg.sequential:
            init = _project(vectors, cfg.sasrec.hidden, cfg.seed) if vectors is not None else None
            sources.append(SASRec(replace(cfg.sasrec, seed=cfg.seed), item_init=init))
        return {s.name: s for s in sources}

    def _set_catalogue(self, index: ItemIndex, catalogue: Mapping[str, dict[str, Any]]) -> None:
        self.items = index
        rows = [catalogue.get(str(i), {}) for i in index.ids[1:]]
        self.categories = np.array([None, *(r.get("category") for r in rows)], dtype=object)
        self.names = np.array(["", *(r.get("title") or "" for r in rows)], dtype=object)
        self.texts = np.array(["", *(_item_text(r) for r in rows)], dtype=object)
        self.available = np.array([False, *(r.get("available") is not False for r in rows)])
        self._set_products([r.get("product_id") for r in rows])

    def _set_products(self, products: Sequence[Any]) -> None:
        """Which items are variants of one product (``items.product_id``).

        ``_product_of`` gives each item a product number, shared by variants,
        or None when no product has two items, so a catalogue without
        variants pays nothing for the rule.
        """
        self.products = np.array([None, *products], dtype=object)
        numbers: dict[Any, int] = {}
        product_of = np.arange(len(self.products), dtype=np.int64)
        for code, product in enumerate(self.products):
            if product is not None:
                product_of[code] = numbers.setdefault(product, code)
        shared = len(numbers) < sum(p is not None for p in self.products)
        self._product_of = product_of if shared else None

    # --------------------------------------------------------------- answer
    def _contributions(self, histories: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Each blended source's weighted distribution over items."""
        if self.blend is None:
            raise NotFoundError("the recommender is not fitted; call fit or load first")
        return {
            name: weight * to_distribution(self.sources[name].score(histories), TRANSFORMS[name])
            for name, weight in self.blend.weights.items()
            if weight > 0 and name in self.sources
        }

    def _mix(self, parts: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        # Popularity breaks ties and serves histories no other source knows.
        counts = cast(Popularity, self.sources["popularity"]).counts
        if self._prior is None or self._prior[0] is not counts:
            self._prior = (counts, 1e-6 * to_distribution(counts[None, :], "share"))
        mixed = np.repeat(self._prior[1], rows, axis=0)
        for part in parts.values():
            mixed += part
        return mixed

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Blended scores (batch, n_items + 1) before any rule."""
        return self._mix(self._contributions(histories), len(histories))

    def recommend(
        self,
        user_id: str | None = None,
        recent_items: Sequence[str] = (),
        k: int = 10,
        *,
        categories: Iterable[str] | None = None,
        exclude_items: Iterable[str] = (),
        promoted: Sequence[str] = (),
        promoted_slots: Sequence[int] = (2,),
    ) -> RecommendationList:
        """The top ``k`` items for a known user and/or a session's recent items.

        An unknown user with no recent items gets the cold-start answer
        (popular items). Unknown item ids in ``recent_items`` are ignored
        and listed in ``unknown_items``.

        Raises:
            InvalidInputError: ``k`` is not in 1..MAX_K, or ``categories`` is
                an empty list.
        """
        _check_k(k)
        if user_id:
            user_id = fold_email_id(user_id)  # stored as ann@shop.com when typed Ann@Shop.com
        known = self.histories.get(user_id, np.array([], np.int32)) if user_id else None
        session, unknown = self.items.encode(list(recent_items))
        history = np.concatenate([known if known is not None else [], session]).astype(np.int32)
        parts = self._contributions([history])
        allowed = self._allowed(history, user_id, categories, exclude_items)
        items = self._answer(history, allowed, parts, self._mix(parts, 1), 0, k)
        items = self._with_promoted(items, promoted, promoted_slots, allowed, k)
        return RecommendationList(user_id, items, unknown, cold_start=len(history) == 0)

    def recommend_many(
        self, user_ids: Sequence[str], k: int = 10, batch_size: int = 256
    ) -> list[RecommendationList]:
        """:meth:`recommend` for many known users at once (batch scoring)."""
        _check_k(k)
        out: list[RecommendationList] = []
        for lo in range(0, len(user_ids), batch_size):
            users = list(user_ids[lo : lo + batch_size])
            histories = [self.histories.get(u, np.array([], np.int32)) for u in users]
            parts = self._contributions(histories)
            scores = self._mix(parts, len(users))
            for row, (user, history) in enumerate(zip(users, histories, strict=True)):
                allowed = self._allowed(history, user, None, ())
                items = self._answer(history, allowed, parts, scores, row, k)
                out.append(RecommendationList(user, items, [], cold_start=len(history) == 0))
        return out

    def _answer(
        self,
        history: np.ndarray,
        allowed: np.ndarray,
        parts: Mapping[str, np.ndarray],
        scores: np.ndarray,
        row: int,
        k: int,
    ) -> list[Recommendation]:
        """One row of a (batch) answer: the top ``k`` allowed items, explained,
        with the new-item slot — the same for a single request and a batch."""
        picked = self._pick(scores[row], allowed, k)
        items = [self._explain(i, float(scores[row, i]), history, parts, row) for i in picked]
        return self._with_new_items(items, history, allowed, k)

    def similar_items(self, item_id: str, k: int = 10) -> list[Recommendation]:
        """Items most like ``item_id``: bought with it, after it, or described alike.

        Raises:
            NotFoundError: the item is not in the model.
            InvalidInputError: ``k`` is not in 1..MAX_K.
        """
        _check_k(k)
        code = self.items.lookup().get(item_id)
        if code is None:
            raise NotFoundError(f"item {item_id!r} is not in the recommender's catalogue")
        # Each source's best match scores 1, so an item nobody has bought yet,
        # known only by its text, competes with the best co-bought item.
        scores = np.zeros(len(self.items.ids), np.float32)
        for name in ("item_knn", "transition", "content"):
            source = self.sources.get(name)
            if source is not None:
                row = to_distribution(source.score([np.array([code], np.int32)]), TRANSFORMS[name])[
                    0
                ]
                row[code] = 0.0
                if row.max() > 0:
                    scores += row / row.max()
        allowed = self.available.copy()
        allowed[code] = False
        if self._product_of is not None:  # not the same product in another size
            allowed &= self._product_of != self._product_of[code]
        picked = self._pick(scores, allowed, k)
        title = self._name(code)
        items = [
            Recommendation(self.items.ids[i], float(scores[i]), f"similar to {title}", "similar")
            for i in picked
        ]
        return self._with_new_items(items, np.array([code], np.int32), allowed, k)

    def observe(self, user_id: str, item_id: str, event_type: str = "view") -> bool:
        """Take a new event into account at once, without a retrain.

        Returns whether the event changed anything (unknown items do not).
        """
        code = self.items.lookup().get(item_id)
        if code is None:
            return False
        if event_type == "impression":
            counts = self.impressions.setdefault(user_id, {})
            counts[code] = counts.get(code, 0) + 1
            return True
        if event_type not in INTEREST_EVENTS:
            return False
        history = self.histories.get(user_id, np.array([], np.int32))
        self.histories[user_id] = np.append(history, code).astype(np.int32)
        self.impressions.get(user_id, {}).pop(code, None)
        return True

    def forget(self, user_id: str) -> bool:
        """Drop everything the model holds about ``user_id`` (an erase request).

        Item-side knowledge learned from them stays until the next training,
        which no longer sees their events. Returns whether anything was held.
        """
        held = False
        for key in self._keys_of(user_id):
            held = self.histories.pop(key, None) is not None or held
            held = self.impressions.pop(key, None) is not None or held
        return held

    def _keys_of(self, user_id: str) -> set[str]:
        """``user_id`` and, for an e-mail address, the other cases of it that a model
        trained before ids were folded may hold (a scan, so only for addresses)."""
        keys = {user_id}
        if "@" in user_id:
            for held in (self.histories, self.impressions):
                keys.update(k for k in held if "@" in k and fold_email_id(k) == user_id)
        return keys

    def _allowed(
        self,
        history: np.ndarray,
        user_id: str | None,
        categories: Iterable[str] | None,
        exclude_items: Iterable[str],
    ) -> np.ndarray:
        cfg = self.settings
        allowed = self.available.copy()
        if cfg.exclude_seen and len(history):
            seen = np.unique(history)
            if cfg.repurchasable_categories:
                again = np.isin(self.categories[seen], list(cfg.repurchasable_categories))
                seen = seen[~again]
            allowed[seen] = False
            if self._product_of is not None:  # the shirt in another size is no news
                allowed &= ~np.isin(self._product_of, self._product_of[seen])
        if categories is not None:
            wanted = list(categories)
            if not wanted:
                raise InvalidInputError("categories is empty; leave it out to allow every category")
            allowed &= np.isin(self.categories, wanted)
        table = self.items.lookup()
        for item in exclude_items:
            if item in table:
                allowed[table[item]] = False
        for code, count in self.impressions.get(user_id or "", {}).items():
            if count >= cfg.max_unclicked_impressions:
                allowed[code] = False
        return allowed

    def _pick(self, scores: np.ndarray, allowed: np.ndarray, k: int) -> list[int]:
        masked = np.where(allowed, scores, -np.inf)
        cap = self.settings.category_cap
        product_of = self._product_of
        pool = min(len(masked), k * 8 if cap or product_of is not None else k)
        top = (
            np.argpartition(-masked, pool - 1)[:pool]
            if pool < len(masked)
            else np.arange(len(masked))
        )
        top = top[np.argsort(-masked[top], kind="stable")]
        picked: list[int] = []
        per_category: dict[Any, int] = {}
        products: set[int] = set()
        for i in top:
            if not np.isfinite(masked[i]):
                break
            category = self.categories[i]
            if cap and category is not None and per_category.get(category, 0) >= cap:
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

    def _with_new_items(
        self, items: list[Recommendation], history: np.ndarray, allowed: np.ndarray, k: int
    ) -> list[Recommendation]:
        """Give up to ``new_item_slots`` of the tail to unbought items alike in text."""
        content = self.sources.get("content")
        slots = min(self.settings.new_item_slots, k)
        if not isinstance(content, ContentSimilarity) or not len(history) or slots < 1:
            return items
        counts = cast(Popularity, self.sources["popularity"]).counts
        fresh = allowed & (counts == 0)
        shown = [self.items.lookup()[r.item_id] for r in items]
        fresh[shown] = False
        if self._product_of is not None:
            fresh &= ~np.isin(self._product_of, self._product_of[shown])
        if not fresh.any():
            return items
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
            product = int(self._product_of[code]) if self._product_of is not None else code
            if product not in products and not _a_twin(mine, content.vectors[code]):
                best.append(code)
                products.add(product)
        if not best:
            return items
        anchor = self._name(self._anchor("content", best[0], history[-10:]))
        new = [
            Recommendation(str(self.items.ids[i]), 0.0, f"new in the shop, like {anchor}", "new")
            for i in best
        ]
        return (items[: k - len(new)] + new)[:k]

    def _with_promoted(
        self,
        items: list[Recommendation],
        promoted: Sequence[str],
        slots: Sequence[int],
        allowed: np.ndarray,
        k: int,
    ) -> list[Recommendation]:
        table = self.items.lookup()
        chosen = {r.item_id for r in items}
        usable = [p for p in promoted if p in table and allowed[table[p]] and p not in chosen]
        out = list(items)
        for slot, item in zip(sorted(slots), usable, strict=False):
            position = min(max(slot - 1, 0), len(out))
            out.insert(position, Recommendation(item, 0.0, "featured offer", "promoted", True))
        return out[:k]

    def _name(self, code: int) -> str:
        name = str(self.names[code] or "")
        return f"“{name[:60]}”" if name else f"item {self.items.ids[code]}"

    def _explain(
        self,
        code: int,
        score: float,
        history: np.ndarray,
        parts: Mapping[str, np.ndarray],
        row: int,
    ) -> Recommendation:
        """The item with the reason of the source that contributed most to it."""
        item_id = str(self.items.ids[code])
        best_name, best_value = "popularity", 0.0
        if len(history):
            for name, part in parts.items():
                if name != "popularity" and part[row, code] > best_value:
                    best_name, best_value = name, float(part[row, code])
        if best_name == "popularity":
            return Recommendation(item_id, score, "popular with other shoppers", "popularity")
        anchor = self._anchor(best_name, code, history[-10:])
        reason = _PHRASES[best_name].format(self._name(anchor))
        return Recommendation(item_id, score, reason, best_name)

    def _anchor(self, source_name: str, code: int, recent: np.ndarray) -> int:
        """The history item that most explains ``code`` for this source."""
        source = self.sources.get(source_name)
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

    # ----------------------------------------------------------- persistence
    def save(self, folder: Path) -> None:
        """Write the model into ``folder`` (JSON, NumPy and a PyTorch state; no pickle)."""
        if self.blend is None:
            raise NotFoundError("nothing to save: the recommender is not fitted")
        folder.mkdir(parents=True, exist_ok=True)
        users = list(self.histories)
        lengths = np.array([len(self.histories[u]) for u in users], np.int64)
        flat = (
            np.concatenate([self.histories[u] for u in users]) if users else np.array([], np.int32)
        )
        arrays: dict[str, np.ndarray] = {"lengths": lengths, "flat": flat.astype(np.int32)}
        pop = cast(Popularity, self.sources["popularity"])
        arrays["popularity"] = pop.counts
        als = self.sources.get("als")
        if isinstance(als, ALS) and als.item_factors is not None:
            arrays["als"] = als.item_factors
        content = self.sources.get("content")
        if isinstance(content, ContentSimilarity):
            arrays["content"] = content.vectors
        np.savez_compressed(folder / "arrays.npz", allow_pickle=False, **arrays)
        for name in ("item_knn", "transition"):
            src = self.sources.get(name)
            matrix = (
                getattr(src, "similarity", None)
                if name == "item_knn"
                else getattr(src, "transitions", None)
            )
            if matrix is not None:
                sp.save_npz(folder / f"{name}.npz", matrix)
        sasrec = self.sources.get("sasrec")
        if isinstance(sasrec, SASRec):
            import torch

            torch.save(sasrec.state(), folder / "sasrec.pt")
        meta = {
            "settings": _settings_to_json(self.settings),
            "item_ids": [str(i) for i in self.items.ids[1:]],
            "categories": list(self.categories[1:]),
            "names": [str(t or "") for t in self.names[1:]],
            "texts": [str(t or "") for t in self.texts[1:]],
            "available": [bool(a) for a in self.available[1:]],
            "products": list(self.products[1:]),
            "users": [str(u) for u in users],
            "impressions": {
                u: {str(c): n for c, n in d.items()} for u, d in self.impressions.items()
            },
            "blend": {"weights": self.blend.weights, "valid_ndcg10": self.blend.valid_ndcg10},
            "report": asdict(self.report) if self.report else None,
        }
        (folder / "recommender.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, folder: Path) -> Recommender:
        """Read a model written by :meth:`save`."""
        meta_path = folder / "recommender.json"
        if not meta_path.is_file():
            raise NotFoundError(f"no recommender model in {folder}")
        meta = json.loads(meta_path.read_text("utf-8"))
        rec = cls(_settings_from_json(meta["settings"]))
        rec.items = ItemIndex.from_ids(meta["item_ids"])
        rec.categories = np.array([None, *meta["categories"]], dtype=object)
        rec.names = np.array(["", *meta["names"]], dtype=object)
        rec.texts = np.array(["", *meta["texts"]], dtype=object)
        rec.available = np.array([False, *meta["available"]])
        # A model saved before variants were known has none.
        rec._set_products(meta.get("products") or [None] * len(meta["item_ids"]))
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
            sources["item_knn"] = _item_knn(similarity)
            sources["profile"] = _profile_knn(similarity)
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


def _item_knn(similarity: sp.csr_matrix | None = None) -> ItemKNN:
    """The recommender's item-kNN: every history item, recent ones weighted more.

    (The benchmark's item-kNN baseline keeps ``ItemKNN``'s last-3 default.)
    """
    return ItemKNN(last=None, decay=0.7, similarity=similarity)


def _profile_knn(similarity: sp.csr_matrix | None = None) -> ItemKNN:
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
#: ``profile`` takes ``item_knn``'s similarities (:func:`_share_similarity`).
_NOT_FITTED_HERE = ("sasrec", "profile")


def _share_similarity(sources: Mapping[str, Source]) -> None:
    """Give ``profile`` the matrix ``item_knn`` just computed instead of computing it twice."""
    knn, profile = sources.get("item_knn"), sources.get("profile")
    if isinstance(knn, ItemKNN) and isinstance(profile, ItemKNN):
        profile.similarity = knn.similarity


def _fixed(scores: np.ndarray) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    """A score function that answers precomputed scores (one batch)."""

    def score(_histories: Sequence[np.ndarray]) -> np.ndarray:
        return scores

    return score


def _check_k(k: int) -> None:
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInputError(f"k must be a whole number from 1 to {MAX_K}; got {k!r}")


def item_texts(items: pa.Table) -> list[str]:
    """The text each catalogue item is embedded by, in the catalogue's order."""
    return [_item_text(row) for row in _catalogue(items).values()]


def _item_text(row: Mapping[str, Any]) -> str:
    """Title, brand, category and description, each once, as plain text: a
    description exported as HTML (Shopify's ``Body (HTML)``) loses its markup."""
    parts = [row.get("title"), row.get("brand"), row.get("category"), row.get("description")]
    seen: list[str] = []
    for p in parts:
        text = plain_text(str(p)) if p else ""
        if text and text not in seen:
            seen.append(text)
    return " | ".join(seen)


def _catalogue(items: pa.Table | None) -> dict[str, dict[str, Any]]:
    if items is None or items.num_rows == 0:
        return {}
    return {str(r["item_id"]): r for r in items.to_pylist()}


def _unclicked_impressions(events: pa.Table, index: ItemIndex) -> dict[str, dict[int, int]]:
    """Per user, items shown without any interest event on them afterwards."""
    if "event_type" not in events.column_names:
        return {}
    table = index.lookup()
    shown: dict[str, dict[int, int]] = {}
    rows = events.select(["user_id", "item_id", "event_type", "ts"]).sort_by("ts").to_pylist()
    for row in rows:
        code = table.get(row["item_id"])
        if code is None:
            continue
        user = row["user_id"]
        if row["event_type"] == "impression":
            counts = shown.setdefault(user, {})
            counts[code] = counts.get(code, 0) + 1
        elif row["event_type"] in INTEREST_EVENTS and user in shown:
            shown[user].pop(code, None)
    return {u: d for u, d in shown.items() if d}


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


def _settings_to_json(settings: RecommendSettings) -> dict[str, Any]:
    out = asdict(settings)
    out["repurchasable_categories"] = list(settings.repurchasable_categories)
    return out


def _settings_from_json(data: Mapping[str, Any]) -> RecommendSettings:
    values = dict(data)
    values["sasrec"] = SASRecConfig(**values["sasrec"])
    values["repurchasable_categories"] = tuple(values.get("repurchasable_categories", ()))
    return RecommendSettings(**values)
