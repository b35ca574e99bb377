"""The review polarity model: hashed n-gram features, a linear SVM, Platt calibration.

Measured on online_shopping_10_cats (``retain bench sentiment``), the
featurizer in :mod:`retain.sentiment.features` beats a tuned character
n-gram SVM; an encoder channel (any name :func:`retain.text.encoder.load_encoder`
takes, e.g. a sentence-transformers model) can be appended for shops whose
reviews the encoder understands. The packaged multilingual encoder runs at
about 35 reviews/s on two cores, too slow for the 1,000 reviews/s scoring
bar, so the default is off.

A model trained on few of a shop's reviews (under :data:`NARROW_TRAINING`
distinct texts) also learns from general Chinese shopping reviews and reads
English through a sentiment lexicon (:mod:`retain.sentiment.general`).

Calibration: the SVM is first fitted on 90% of the data, a one-feature
logistic regression (Platt scaling) maps its margins on the other 10% to
probabilities, then the SVM is refitted on everything with the same C.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from retain.errors import InvalidInputError, NotFittedError, NotFoundError
from retain.sentiment.aspects import AspectMention, find_aspects_many
from retain.sentiment.features import MAX_CHARS, ReviewFeaturizer, has_han, normalise
from retain.sentiment.general import general_reviews, lexicon_block
from retain.text.language import detect_language

__all__ = [
    "LANGUAGE_SHARE",
    "NARROW_TRAINING",
    "ReviewScore",
    "SentimentModel",
    "SentimentSettings",
]

_C_GRID = (0.1, 0.3, 1.0)
#: Fewer distinct training texts than this and the model knows their wording
#: and little else: trained on the demo shop's 483 phrase-built review texts
#: alone, it read its phrases right but "not bad at all" as a complaint. Under
#: it, the general reviews and the lexicon join (``SentimentSettings.general``).
NARROW_TRAINING = 2_000
#: The share of a shop's reviews in a language from which general knowledge of
#: it joins: 17,000 Chinese reviews teach an English shop nothing and outvote
#: its own in the validation share (500 Amazon reviews, seed 0: 0.761 with them
#: and the lexicon, 0.780 with the lexicon alone).
LANGUAGE_SHARE = 0.05
_MODEL_FILE = "sentiment.json"
_ARRAYS_FILE = "sentiment.npz"


@dataclass(frozen=True)
class SentimentSettings:
    """How the model is built; the defaults are what the benchmark ships."""

    c: float | None = None  # None: chosen on the validation share from 0.1, 0.3, 1
    use_categories: bool = True
    nb_weighting: bool = True
    encoder: str | None = None
    encoder_weight: float = 1.0
    validation_share: float = 0.1
    seed: int = 0
    #: Learn from general Chinese reviews and an English lexicon too
    #: (:mod:`retain.sentiment.general`), each where at least LANGUAGE_SHARE
    #: of the shop's reviews are in that language. None: only while the
    #: shop's own reviews are fewer than NARROW_TRAINING distinct texts.
    general: bool | None = None


@dataclass(frozen=True)
class ReviewScore:
    """One review's polarity; ``label`` is None when there was nothing to score."""

    label: int | None
    p_positive: float | None
    confidence: float | None
    language: str
    note: str | None = None


@dataclass
class _Fitted:
    featurizer: ReviewFeaturizer
    coef: np.ndarray
    intercept: float
    platt: tuple[float, float]
    lexicon: bool = False
    #: Every character of the training texts; None in a model saved before they were kept.
    characters: frozenset[str] | None = None
    meta: dict[str, object] = field(default_factory=dict)


class SentimentModel:
    """Polarity of Chinese and English reviews, with calibrated probabilities and aspects."""

    def __init__(self, settings: SentimentSettings | None = None) -> None:
        self.settings = settings or SentimentSettings()
        self._fitted: _Fitted | None = None
        self._encoder: object | None = None
        self.train_seconds = 0.0

    # -- training -----------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[int],
        categories: Sequence[str | None] | None = None,
        *,
        validation: tuple[Sequence[str], Sequence[int], Sequence[str | None] | None] | None = None,
        held_out: Collection[str] = (),
    ) -> SentimentModel:
        """Fit on labelled reviews (1 positive, 0 negative).

        ``validation`` (texts, labels, categories) chooses C and the
        calibration; without it a stratified share of the training reviews
        does. Either way the final model is fitted on all of them, and on
        the general reviews when ``settings.general`` says so (a share of
        them joins the validation, see :meth:`_split`).
        ``held_out``: texts never to learn from (a benchmark's test split);
        general reviews with the same normalised text are left out.

        Raises:
            InvalidInputError: lengths differ, a label is not 0/1, only one
                class is present, or a review is empty.
        """
        started = time.perf_counter()
        y = np.asarray(labels)
        if len(texts) != len(y):
            raise InvalidInputError(f"got {len(texts)} reviews but {len(y)} labels")
        if categories is not None and len(categories) != len(texts):
            raise InvalidInputError(f"got {len(categories)} categories for {len(texts)} reviews")
        bad = [i for i, v in enumerate(y.tolist()) if v not in (0, 1)]
        if bad:
            raise InvalidInputError(
                "labels must be 0 (negative) or 1 (positive); "
                f"row {bad[0]} has {y.tolist()[bad[0]]!r}"
            )
        y = y.astype(np.int64)
        split: np.ndarray | None = None
        if validation is not None:
            v_texts, v_labels, v_cats = validation
            if (categories is None) != (v_cats is None):
                raise InvalidInputError(
                    "give categories for both training and validation or neither"
                )
            split = np.arange(len(texts), len(texts) + len(v_texts))
            texts = [*texts, *v_texts]
            y = np.concatenate([y, np.asarray(v_labels, dtype=np.int64)])
            if categories is not None and v_cats is not None:
                categories = [*categories, *v_cats]
        clean = self._clean(texts)
        reviews, lexicon = self._general_reading(clean)
        if len(set(y.tolist())) < 2 and not reviews:
            raise InvalidInputError("training needs positive and negative reviews; got one class")
        cats = list(categories) if categories is not None else None
        s = self.settings
        own, distinct = len(clean), len(set(clean))
        counted = None
        if reviews:
            more = general_reviews(held_out={*clean, *(normalise(t) for t in held_out)})
            clean, counted = [*clean, *more.texts], more.counts
            y = np.concatenate([y, more.labels])
            cats = [*cats, *([None] * len(more.texts))] if cats is not None else None
        added = len(clean) - own
        rows = np.arange(len(clean))
        fit_rows, val_rows = self._split(y, own, split)
        training = _TrainingSet(self, clean, y, cats, lexicon=lexicon, counted=counted)
        part = training.featurizer(fit_rows)
        x_fit, x_val = training.features(part, fit_rows), training.features(part, val_rows)
        best: tuple[float, float, np.ndarray] | None = None
        for c in (s.c,) if s.c is not None else _C_GRID:
            svm = LinearSVC(C=c, random_state=s.seed).fit(x_fit, y[fit_rows])
            margins = svm.decision_function(x_val)
            accuracy = float(((margins > 0) == y[val_rows]).mean())
            if best is None or accuracy > best[0]:
                best = (accuracy, c, margins)
        assert best is not None
        val_accuracy, c, margins = best
        platt = LogisticRegression(C=1e4).fit(margins.reshape(-1, 1), y[val_rows])
        featurizer = training.featurizer(rows)
        svm = LinearSVC(C=c, random_state=s.seed).fit(training.features(featurizer, rows), y)
        self._fitted = _Fitted(
            featurizer=featurizer,
            coef=svm.coef_.ravel().astype(np.float32),
            intercept=float(svm.intercept_[0]),
            platt=(float(platt.coef_[0, 0]), float(platt.intercept_[0])),
            lexicon=lexicon,
            characters=frozenset("".join(clean)) - {" "},
            meta={
                "reviews": len(clean) - added,
                "distinct_texts": distinct,
                "general_texts": added,
                "lexicon": lexicon,
                "positive_share": float(y[: len(y) - added].mean()),
                "validation_accuracy": val_accuracy,
                "c": c,
            },
        )
        # Not saved with the model: the same data must publish the same version.
        self.train_seconds = time.perf_counter() - started
        return self

    def learns_general_reviews(self, texts: Sequence[str]) -> bool:
        """Whether fitting on ``texts`` would add the general Chinese reviews, which
        hold both classes: a shop whose reviews are all praise can still be fitted."""
        return self._general_reading(self._clean(texts))[0]

    def _general_reading(self, clean: list[str]) -> tuple[bool, bool]:
        """Whether a fit on ``clean`` adds the general Chinese reviews, and the lexicon."""
        s = self.settings
        general = s.general if s.general is not None else len(set(clean)) < NARROW_TRAINING
        chinese = float(np.mean([has_han(t) for t in clean])) if clean else 0.0
        return general and chinese >= LANGUAGE_SHARE, general and 1 - chinese >= LANGUAGE_SHARE

    def _split(
        self, y: np.ndarray, own: int, validation: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Training and validation rows: the ``validation`` rows given, with a
        share of the general reviews (the rows from ``own`` on); else a
        stratified share of all.

        The general reviews are held out like the shop's: a few hundred
        reviews a model reads perfectly would otherwise fit the calibration
        alone, and their margins say nothing of how sure it is elsewhere.
        """
        s = self.settings
        rows = np.arange(len(y))
        if validation is None:
            held = max(2, round(len(rows) * s.validation_share))
            fit_rows, val_rows = train_test_split(
                rows, test_size=held, stratify=y, random_state=s.seed
            )
            return fit_rows, val_rows
        general = rows[own:]
        if not len(general):
            return rows[: validation[0]], validation
        more_fit, more_val = train_test_split(
            general, test_size=s.validation_share, stratify=y[general], random_state=s.seed
        )
        return (
            np.concatenate([rows[: validation[0]], more_fit]),
            np.concatenate([validation, more_val]),
        )

    # -- scoring ------------------------------------------------------------------
    def decision_function(
        self, texts: Sequence[str], categories: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """SVM margins (positive means positive polarity)."""
        return self._margins(self._clean(texts), categories)

    def predict_proba(
        self, texts: Sequence[str], categories: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """Calibrated probability that each review is positive.

        Raises:
            InvalidInputError: a review is empty or not text (use :meth:`score`
                to get a per-review note instead).
        """
        return self._calibrated(self.decision_function(texts, categories))

    def predict(
        self, texts: Sequence[str], categories: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """1 for positive, 0 for negative."""
        return (self.predict_proba(texts, categories) >= 0.5).astype(np.int64)

    def score(
        self, texts: Sequence[object], categories: Sequence[str | None] | None = None
    ) -> list[ReviewScore]:
        """One :class:`ReviewScore` per input; empty or non-text input gets a note, not an error."""
        clean = [normalise(t) if isinstance(t, str) else "" for t in texts]
        usable = [i for i, t in enumerate(clean) if t]
        cats = [categories[i] for i in usable] if categories is not None else None
        x = self._features([clean[i] for i in usable], cats) if usable else None
        margins = self._linear(x) if x is not None else np.array([])
        evidence = self._evidence([clean[i] for i in usable], x)
        by_row = dict(zip(usable, self._calibrated(margins).tolist(), strict=True))
        unknown = {i for i, seen in zip(usable, evidence.tolist(), strict=True) if not seen}
        out = []
        for i, raw in enumerate(texts):
            if i in unknown:
                note = "no word or character the model learned from: not scored"
                out.append(ReviewScore(None, None, None, detect_language(clean[i]), note))
                continue
            if i not in by_row:
                note = "not text" if not isinstance(raw, str) else "empty review: nothing to score"
                out.append(ReviewScore(None, None, None, "und", note))
                continue
            p = float(by_row[i])
            long_note = (
                f"scored on its first {MAX_CHARS:,} characters"
                if len(str(raw)) > MAX_CHARS
                else None
            )
            out.append(
                ReviewScore(int(p >= 0.5), p, max(p, 1 - p), detect_language(clean[i]), long_note)
            )
        return out

    def aspects(self, texts: Sequence[str]) -> list[list[AspectMention]]:
        """Which aspects each review praises or blames (see :mod:`retain.sentiment.aspects`)."""
        return find_aspects_many(texts, self)

    # -- persistence ----------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write ``sentiment.json`` and ``sentiment.npz`` (no pickle) into ``folder``."""
        fitted = self._require()
        folder.mkdir(parents=True, exist_ok=True)
        nonzero = np.flatnonzero(fitted.coef)
        arrays = {
            **fitted.featurizer.state(),
            "coef_index": nonzero.astype(np.int64),
            "coef_value": fitted.coef[nonzero],
        }
        np.savez_compressed(folder / _ARRAYS_FILE, **arrays)  # type: ignore[arg-type]
        doc = {
            "format": 1,
            "settings": asdict(self.settings),
            "categories": fitted.featurizer.categories_,
            "n_features": int(fitted.coef.shape[0]),
            "intercept": fitted.intercept,
            "platt": list(fitted.platt),
            "lexicon": fitted.lexicon,
            "characters": None if fitted.characters is None else "".join(sorted(fitted.characters)),
            "meta": fitted.meta,
        }
        (folder / _MODEL_FILE).write_text(json.dumps(doc, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, folder: Path) -> SentimentModel:
        """A model written by :meth:`save`.

        Raises:
            NotFoundError: ``folder`` holds no sentiment model.
        """
        path = folder / _MODEL_FILE
        if not path.is_file():
            raise NotFoundError(f"no sentiment model in {folder}; run `retain train sentiment`")
        doc = json.loads(path.read_text())
        settings = SentimentSettings(**doc["settings"])
        with np.load(folder / _ARRAYS_FILE) as data:
            arrays = {k: data[k] for k in data.files}
        featurizer = ReviewFeaturizer.from_state(
            arrays,
            use_categories=settings.use_categories,
            nb_weighting=settings.nb_weighting,
            categories=doc["categories"],
        )
        coef = np.zeros(int(doc["n_features"]), dtype=np.float32)
        coef[arrays["coef_index"]] = arrays["coef_value"]
        model = cls(settings)
        model._fitted = _Fitted(
            featurizer=featurizer,
            coef=coef,
            intercept=float(doc["intercept"]),
            platt=(float(doc["platt"][0]), float(doc["platt"][1])),
            lexicon=bool(doc.get("lexicon", False)),  # saved before there was a lexicon
            characters=None if doc.get("characters") is None else frozenset(doc["characters"]),
            meta=dict(doc.get("meta", {})),
        )
        return model

    @property
    def training_note(self) -> str | None:
        """A warning when the model learned from too few distinct reviews to trust elsewhere.

        None for a model trained on enough, and for one saved before the
        count was kept.
        """
        fitted = self._require()
        distinct = fitted.meta.get("distinct_texts")
        if not isinstance(distinct, int) or distinct >= NARROW_TRAINING:
            return None
        more = (
            "train it on more of the shop's own reviews "
            f"(retain train sentiment; {NARROW_TRAINING:,} distinct or more)"
        )
        general = fitted.meta.get("general_texts")
        helped = [f"{general:,} general Chinese shopping reviews"] if general else []
        helped += ["an English sentiment lexicon"] if fitted.lexicon else []
        if helped:
            return (
                f"this model learned from {distinct:,} distinct review texts from this shop, "
                f"with {' and '.join(helped)}, so wording particular to this shop may still "
                f"be misread; {more}"
            )
        return (
            f"this model learned from {distinct:,} distinct review texts, so wording it has not "
            f"seen may be misread; {more}"
        )

    @property
    def meta(self) -> dict[str, object]:
        """Training facts: review count, positive share, validation accuracy, chosen C."""
        return dict(self._require().meta)

    # -- internals ----------------------------------------------------------------
    def _require(self) -> _Fitted:
        if self._fitted is None:
            raise NotFittedError("the sentiment model is not fitted; call fit() or load()")
        return self._fitted

    @staticmethod
    def _clean(texts: Sequence[object]) -> list[str]:
        clean = [normalise(t, where=f"review {i}") for i, t in enumerate(texts)]
        empty = [i for i, t in enumerate(clean) if not t]
        if empty:
            shown = ", ".join(str(i) for i in empty[:5])
            raise InvalidInputError(
                f"{len(empty)} review(s) are empty or whitespace (positions {shown}); "
                "drop them or use score(), which notes them instead"
            )
        return clean

    def _margins(self, clean: list[str], categories: Sequence[str | None] | None) -> np.ndarray:
        """SVM margins of already-normalised, non-empty texts."""
        return self._linear(self._features(clean, categories))

    def _features(self, clean: list[str], categories: Sequence[str | None] | None) -> sp.csr_matrix:
        fitted = self._require()
        return _with_dense(
            fitted.featurizer.transform(clean, categories), self._dense(clean, fitted.lexicon)
        )

    def _linear(self, x: sp.csr_matrix) -> np.ndarray:
        fitted = self._require()
        return np.asarray(x @ fitted.coef).ravel() + fitted.intercept

    def _evidence(self, clean: list[str], x: sp.csr_matrix | None) -> np.ndarray:
        """Whether each text holds a character the model learned from.

        A text without one ("👍👍👍" for a model that never saw an emoji)
        would get the intercept as its margin: the training data's prior, not
        a verdict on the review. Characters, not the hashed n-grams, decide:
        once general reviews fill most of the hashed space, an unseen symbol
        shares a position with something learned. A model saved before the
        characters were kept asks whether any weighted feature occurs.
        """
        fitted = self._require()
        if x is None:
            return np.array([], dtype=bool)
        if fitted.characters is None:
            weighted = (fitted.coef != 0).astype(np.float32)
            return np.asarray(abs(x) @ weighted).ravel() > 0
        known = fitted.characters
        return np.array([any(ch in known for ch in text) for text in clean], dtype=bool)

    def _calibrated(self, margins: np.ndarray) -> np.ndarray:
        a, b = self._require().platt
        return np.asarray(1.0 / (1.0 + np.exp(-(a * margins + b))))

    def _dense(self, clean: list[str], lexicon: bool) -> np.ndarray | None:
        """The columns after the n-grams: the encoder's (scaled) and the lexicon's,
        those the model uses; None when it uses neither."""
        blocks = [lexicon_block(clean)] if lexicon else []
        if self.settings.encoder is not None:
            from retain.text.encoder import load_encoder

            if self._encoder is None:
                self._encoder = load_encoder(self.settings.encoder)
            vectors = self._encoder.encode(clean)  # type: ignore[attr-defined]
            blocks.append(np.asarray(vectors, dtype=np.float32) * self.settings.encoder_weight)
        return np.hstack(blocks) if blocks else None


def _with_dense(x: sp.csr_matrix, dense: np.ndarray | None) -> sp.csr_matrix:
    """``x`` with the lexicon's and the encoder's columns appended, when there are any."""
    return x if dense is None else sp.hstack([x, sp.csr_matrix(dense)], format="csr")


class _TrainingSet:
    """Training reviews with their n-gram counts (and embeddings) computed once."""

    def __init__(
        self,
        model: SentimentModel,
        clean: list[str],
        y: np.ndarray,
        cats: list[str | None] | None,
        *,
        lexicon: bool,
        counted: sp.csr_matrix | None = None,
    ) -> None:
        """``counted``: the counts of the last rows of ``clean``, known already."""
        self.model = model
        self.y = y
        self.cats = cats
        done = 0 if counted is None else counted.shape[0]
        self.counts = ReviewFeaturizer().counts(clean[: len(clean) - done])
        if counted is not None:
            self.counts = sp.vstack([self.counts, counted], format="csr")
        self.dense = model._dense(clean, lexicon)

    def _cats(self, rows: np.ndarray) -> list[str | None] | None:
        return [self.cats[i] for i in rows] if self.cats is not None else None

    def featurizer(self, rows: np.ndarray) -> ReviewFeaturizer:
        s = self.model.settings
        made = ReviewFeaturizer(use_categories=s.use_categories, nb_weighting=s.nb_weighting)
        return made.fit(self.counts[rows], self.y[rows], self._cats(rows))

    def features(self, featurizer: ReviewFeaturizer, rows: np.ndarray) -> sp.csr_matrix:
        x = featurizer.from_counts(self.counts[rows], self._cats(rows))
        return _with_dense(x, None if self.dense is None else self.dense[rows])
