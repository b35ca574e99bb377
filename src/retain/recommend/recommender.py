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

This class holds the state and the order of the steps; the steps live
beside it: ``settings`` (what is asked and answered), ``catalogue`` (item
rows, text, variants), ``components`` (the sources and their text
vectors), ``rules`` (picking a list), ``explain`` (reasons) and
``persistence`` (a model folder).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retain.data.user_ids import fold_email_id
from retain.errors import InvalidInputError, NotFoundError
from retain.recommend.blend import Blend, fit_blend, to_distribution
from retain.recommend.catalogue import (
    catalogue_rows,
    item_text,
    item_texts,
    product_numbers,
    unclicked_impressions,
)
from retain.recommend.components import (
    NOT_FITTED_HERE,
    embed_item_texts,
    fixed_scores,
    make_sources,
    share_similarity,
)
from retain.recommend.explain import PHRASES, anchor
from retain.recommend.metrics import ranking_metrics, target_ranks
from retain.recommend.persistence import load_recommender, save_recommender
from retain.recommend.rules import new_item_codes, pick
from retain.recommend.sasrec import SASRec
from retain.recommend.sequences import INTEREST_EVENTS, ItemIndex, Sequences, natural_key
from retain.recommend.settings import (
    MAX_K,
    TRANSFORMS,
    FitReport,
    Recommendation,
    RecommendationList,
    RecommendSettings,
    check_k,
)
from retain.recommend.sources import ContentSimilarity, Popularity, Source

if TYPE_CHECKING:
    from retain.text.stored_vectors import StoredVectors

__all__ = [
    "MAX_K",
    "FitReport",
    "RecommendSettings",
    "Recommendation",
    "RecommendationList",
    "Recommender",
    "item_texts",
]


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
        catalogue = catalogue_rows(items)
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
        self.impressions = unclicked_impressions(events, index)
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

        texts = [str(t or "") for t in self.texts[1:]]
        vectors = embed_item_texts(self.settings.text_model, texts, self.text_vectors, seconds)
        sources = make_sources(cfg, vectors)
        for name, source in sources.items():
            if name in NOT_FITTED_HERE:
                continue
            t = time.perf_counter()
            source.fit(train)
            seconds[name] = time.perf_counter() - t
        share_similarity(sources)
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
                ranks = target_ranks(fixed_scores(s), tune_inputs, tune_targets, len(s))
                by_source[name] = ranking_metrics(ranks, (10,))["ndcg@10"]
            self.blend = fit_blend(scores, TRANSFORMS, tune_inputs, tune_targets)
        else:
            self.blend = Blend({"popularity": 1.0}, dict(TRANSFORMS))
        # Serve with everything known: refit the cheap sources on full histories.
        for name, source in sources.items():
            if name not in NOT_FITTED_HERE:
                source.fit(sequences)
        share_similarity(sources)
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

    def _set_catalogue(self, index: ItemIndex, catalogue: Mapping[str, dict[str, Any]]) -> None:
        self.items = index
        rows = [catalogue.get(str(i), {}) for i in index.ids[1:]]
        self.categories = np.array([None, *(r.get("category") for r in rows)], dtype=object)
        self.names = np.array(["", *(r.get("title") or "" for r in rows)], dtype=object)
        self.texts = np.array(["", *(item_text(r) for r in rows)], dtype=object)
        self.available = np.array([False, *(r.get("available") is not False for r in rows)])
        self.set_products([r.get("product_id") for r in rows])

    def set_products(self, products: Sequence[Any]) -> None:
        """Which items are variants of one product: ``products`` has each item's
        ``items.product_id`` (or None), in code order without the padding."""
        self.products = np.array([None, *products], dtype=object)
        self._product_of = product_numbers(self.products)

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
        check_k(k)
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
        check_k(k)
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
        check_k(k)
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
        return pick(
            scores, allowed, k, self.categories, self.settings.category_cap, self._product_of
        )

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
        best = new_item_codes(content, fresh, history, self._product_of, slots)
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
        reason = PHRASES[best_name].format(self._name(anchor))
        return Recommendation(item_id, score, reason, best_name)

    def _anchor(self, source_name: str, code: int, recent: np.ndarray) -> int:
        return anchor(self.sources.get(source_name), code, recent)

    # ----------------------------------------------------------- persistence
    def save(self, folder: Path) -> None:
        """Write the model into ``folder`` (see :mod:`retain.recommend.persistence`)."""
        save_recommender(self, folder)

    @classmethod
    def load(cls, folder: Path) -> Recommender:
        """Read a model written by :meth:`save`."""
        return load_recommender(cls, folder)
