"""Review text to sparse features: character and word n-grams, hashed.

Why this shape: on Chinese reviews, character n-grams carry most of the
signal (no segmentation errors), words from ``jieba`` add whole-word cues,
and hashing keeps the model free of a vocabulary to store, so a saved model
is its weights and a few numbers. Features are TF-IDF-weighted (sublinear),
each family L2-normalised, then scaled by naive-Bayes log-count ratios
(Wang & Manning 2012), which lifts a linear model on polarity tasks.

Category-aware features: when a review's product category is known, every
feature also fires in a second, category-shifted space, so "small" can be
bad for a hotel room and fine for a phone. Unknown categories use the shared
space only.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from retain.errors import InvalidInputError
from retain.text.chinese import to_simplified

__all__ = ["MAX_CHARS", "ReviewFeaturizer", "distinct_reviews", "has_han", "normalise", "words"]

#: Longer reviews are cut here: polarity is settled long before 2,000
#: characters, and a 100 KB paste must not stall a scoring batch.
MAX_CHARS = 2000

_HAN = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"\w+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise(text: object, *, where: str = "review") -> str:
    """NFKC-folded (full-width to half-width), lower-cased, whitespace-collapsed text.

    Traditional Chinese is read as Simplified (:mod:`retain.text.chinese`), so
    質量 and 质量 are one feature.

    Lone surrogates from a badly decoded file become U+FFFD rather than
    crashing the hashing step later.

    Raises:
        InvalidInputError: ``text`` is not a string (e.g. bytes or None).
    """
    if not isinstance(text, str):
        raise InvalidInputError(
            f"{where}: expected text, got {type(text).__name__}; decode bytes as UTF-8 first"
        )
    clean = text.encode("utf-8", "replace").decode("utf-8")
    clean = to_simplified(unicodedata.normalize("NFKC", clean[: MAX_CHARS * 2]).lower())
    return _SPACES.sub(" ", clean).strip()[:MAX_CHARS]


def distinct_reviews(keys: Sequence[str], labels: Sequence[int]) -> tuple[list[int], int]:
    """The positions of one review per text, and how many texts had both labels.

    ``keys`` are the reviews' normalised texts (:func:`normalise`), which the
    caller often has already. A text seen with both labels is left out
    altogether: its label is noise. Kept once, no review can be both a
    training and a test review.
    """
    labels_of: dict[str, set[int]] = {}
    for key, label in zip(keys, labels, strict=True):
        labels_of.setdefault(key, set()).add(label)
    keep, seen = [], set()
    for i, key in enumerate(keys):
        if key in seen or len(labels_of[key]) > 1:
            continue
        seen.add(key)
        keep.append(i)
    return keep, sum(1 for found in labels_of.values() if len(found) > 1)


def has_han(text: str) -> bool:
    """Whether ``text`` holds a Chinese (Han) character."""
    return _HAN.search(text) is not None


def words(text: str) -> list[str]:
    """Word tokens: ``jieba`` for text with Han characters, letters/digits runs otherwise."""
    if has_han(text):
        return [w for w in _jieba().lcut(text) if w.strip()]
    return _WORD.findall(text)


def _jieba():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():  # jieba imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


_CHAR_SPACE = 1 << 20
_WORD_SPACE = 1 << 20
_CATEGORY_SPACE = 1 << 22
_SHIFT = 1_000_003  # a prime: each category moves features to its own positions


class ReviewFeaturizer:
    """Fitted feature weights (IDF, naive-Bayes ratios, categories); no vocabulary."""

    def __init__(self, *, use_categories: bool = True, nb_weighting: bool = True) -> None:
        self.use_categories = use_categories
        self.nb_weighting = nb_weighting
        self._chars = HashingVectorizer(
            analyzer="char",
            ngram_range=(1, 3),
            n_features=_CHAR_SPACE,
            alternate_sign=False,
            norm=None,
            lowercase=False,
        )
        self._words = HashingVectorizer(
            analyzer="word",
            token_pattern=r"\S+",
            ngram_range=(1, 2),
            n_features=_WORD_SPACE,
            alternate_sign=False,
            norm=None,
            lowercase=False,
        )
        self.idf_: np.ndarray | None = None
        self.ratio_: np.ndarray | None = None
        self.categories_: list[str] = []

    def fit(
        self,
        counts: sp.csr_matrix,
        labels: np.ndarray,
        categories: Sequence[str | None] | None,
    ) -> ReviewFeaturizer:
        """Learn IDF and naive-Bayes ratios from :meth:`counts` of the training reviews."""
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
        n = counts.shape[0]
        self.idf_ = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        self.idf_[df == 0] = 0.0  # never seen in training: no weight at all
        self.ratio_ = None
        if self.nb_weighting:
            present = sp.csr_matrix(counts, copy=True)
            present.data[:] = 1.0
            pos = np.asarray(present[labels == 1].sum(axis=0)).ravel() + 1.0
            neg = np.asarray(present[labels == 0].sum(axis=0)).ravel() + 1.0
            self.ratio_ = np.abs(np.log((pos / pos.sum()) / (neg / neg.sum()))).astype(np.float32)
            self.ratio_[df == 0] = 0.0
        self.categories_ = (
            sorted({c for c in categories if c})
            if self.use_categories and categories is not None
            else []
        )
        return self

    def transform(
        self, texts: Sequence[str], categories: Sequence[str | None] | None = None
    ) -> sp.csr_matrix:
        """Features of normalised ``texts`` with the fitted weights."""
        return self.from_counts(self.counts(texts), categories)

    def from_counts(
        self, counts: sp.csr_matrix, categories: Sequence[str | None] | None = None
    ) -> sp.csr_matrix:
        """Features from :meth:`counts`, so training computes the n-grams once."""
        return self._finish(self._weighted(counts), categories)

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Raw hashed n-gram counts of normalised ``texts`` (no fitted state needed)."""
        chars = self._chars.transform(texts)
        tokens = self._words.transform([" ".join(words(t)) for t in texts])
        return sp.hstack([chars, tokens], format="csr", dtype=np.float32)

    def _weighted(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        if self.idf_ is None:
            raise InvalidInputError("the featurizer is not fitted")
        out = sp.csr_matrix(counts, dtype=np.float32, copy=True)
        out.data = (1.0 + np.log(out.data)) * self.idf_[out.indices]
        # Each family (characters, words) gets unit length on its own.
        rows = np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))
        family = (out.indices >= _CHAR_SPACE).astype(np.int64)
        slot = rows * 2 + family
        norms = np.sqrt(np.bincount(slot, weights=out.data**2, minlength=out.shape[0] * 2))
        norms[norms == 0] = 1.0
        out.data = (out.data / norms[slot]).astype(np.float32)
        out.eliminate_zeros()
        return out

    def _finish(
        self, base: sp.csr_matrix, categories: Sequence[str | None] | None
    ) -> sp.csr_matrix:
        if self.ratio_ is not None:
            base = base.copy()
            base.data = base.data * self.ratio_[base.indices]
            base.eliminate_zeros()
        if not (self.use_categories and self.categories_):
            return base
        shifted = _category_block(base, categories, self.categories_)
        return sp.hstack([base, shifted], format="csr")

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save (the settings go to JSON beside them)."""
        if self.idf_ is None:
            raise InvalidInputError("the featurizer is not fitted")
        out = {"idf": self.idf_}
        if self.ratio_ is not None:
            out["ratio"] = self.ratio_
        return out

    @classmethod
    def from_state(
        cls,
        arrays: dict[str, np.ndarray],
        *,
        use_categories: bool,
        nb_weighting: bool,
        categories: list[str],
    ) -> ReviewFeaturizer:
        made = cls(use_categories=use_categories, nb_weighting=nb_weighting)
        made.idf_ = arrays["idf"].astype(np.float32)
        made.ratio_ = arrays["ratio"].astype(np.float32) if "ratio" in arrays else None
        made.categories_ = list(categories)
        return made


def _category_block(
    base: sp.csr_matrix, categories: Sequence[str | None] | None, known: list[str]
) -> sp.csr_matrix:
    """``base`` moved, row by row, to the positions of the row's category."""
    rows = base.shape[0]
    index = {c: i + 1 for i, c in enumerate(known)}
    per_row = np.zeros(rows, dtype=np.int64)
    if categories is not None:
        if len(categories) != rows:
            raise InvalidInputError(
                f"got {len(categories)} categories for {rows} reviews; give one per review"
            )
        per_row = np.array([index.get(c or "", 0) for c in categories], dtype=np.int64)
    lengths = np.diff(base.indptr)
    shift = np.repeat(per_row * _SHIFT, lengths)
    keep = np.repeat(per_row > 0, lengths)
    columns = (base.indices.astype(np.int64) + shift) % _CATEGORY_SPACE
    data = np.where(keep, base.data, 0.0).astype(np.float32)
    block = sp.csr_matrix((data, columns, base.indptr.copy()), shape=(rows, _CATEGORY_SPACE))
    block.eliminate_zeros()
    return block
