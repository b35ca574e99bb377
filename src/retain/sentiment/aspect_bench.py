"""``retain bench aspects``: how often an aspect gets the polarity a person gave it.

A shop has reviews with a star rating, not opinions labelled per aspect, so
the aspect polarity Retain reports comes from the review model read on a
span of the review (:func:`retain.sentiment.aspects.clause_opinions`). This
benchmark measures that on aspect terms people labelled.

Protocol:

1. The review model is the shipped :class:`SentimentModel`, trained on the
   labelled reviews ``--reviews`` (any layout ``retain bench sentiment``
   reads; duplicates removed the same way), settings chosen on its own
   validation share. It never sees the aspect data.
2. Aspect examples come from SemEval-2014 ``.xml.seg`` files. The product
   has two polarities, so neutral examples are counted and left out;
   ``accuracy`` and ``macro_f1`` are over positive and negative terms.
   ``mixed_accuracy`` is over the terms whose sentence also holds a term
   of the other polarity — where one label per review must be wrong.
3. Retain: the clause holding the term, widened to its segment (up to the
   nearest contrast word) when the clause says nothing clear
   (``WIDEN_BELOW``). Baselines in the same run, same model: ``sentence``
   (the whole sentence, what a review-level label gives every aspect) and
   ``clause_only`` (the clause alone, Retain's rule before widening).
4. With ``--dev FILE`` (a training file, never the test file) the widening
   bar is swept there, to show how it was chosen: ``dev``. The same file
   then trains a reference a shop could only have with aspect labels,
   ``supervised_on_dev``: word 1-2-gram and character 2-5-gram TF-IDF of the
   term's clause and of its segment, a linear SVM, C from 0.1/0.3/1 by
   5-fold cross-validation on the file.
5. ``lexicon``: the share of terms whose clause the default aspect lexicon
   names any aspect in (the product reports only those), and Retain's
   accuracy on the terms of each aspect.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import cross_val_score
from sklearn.svm import LinearSVC

from retain.benchmarking import machine
from retain.data.loaders.absa import AspectExample, read_absa_seg
from retain.sentiment.aspects import (
    WIDEN_BELOW,
    Clause,
    aspects_named,
    clause_at,
    clause_opinions,
)
from retain.sentiment.bench import deduplicate
from retain.sentiment.model import SentimentModel, SentimentSettings
from retain.sentiment.service import labelled_reviews_from_csv

__all__ = ["DEV_GRID", "run_aspect_benchmark"]

#: The widening bars swept on ``--dev``.
DEV_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def _clause(example: AspectExample) -> Clause:
    """The clause holding the term; the whole sentence when the term spans a cut."""
    sentence = example.sentence
    found = clause_at(sentence, example.start)
    if found is None or found.end < example.start + len(example.term):
        return Clause(sentence, 0, len(sentence), sentence)
    return found


def _mixed(examples: Sequence[AspectExample]) -> np.ndarray:
    """Whether each term's sentence holds terms of both polarities."""
    seen: dict[str, set[int]] = {}
    for e in examples:
        seen.setdefault(e.sentence, set()).add(e.polarity)
    return np.array([{-1, 1} <= seen[e.sentence] for e in examples], dtype=bool)


def _scores(truth: np.ndarray, p: np.ndarray, mixed: np.ndarray) -> dict[str, Any]:
    right = (p >= 0.5) == truth
    return {
        "accuracy": float(right.mean()),
        "macro_f1": float(f1_score(truth, (p >= 0.5).astype(int), average="macro")),
        "mixed_accuracy": float(right[mixed].mean()) if mixed.any() else None,
    }


@dataclass(frozen=True)
class _Terms:
    """One file's positive and negative terms, each with its clause, found once."""

    sentences: list[str]
    clauses: list[Clause]
    truth: np.ndarray  # True: positive
    mixed: np.ndarray
    neutral: int  # left out


def _polar(path: Path) -> _Terms:
    examples = read_absa_seg(path)
    mixed = _mixed(examples)
    keep = [i for i, e in enumerate(examples) if e.polarity != 0]
    return _Terms(
        [examples[i].sentence for i in keep],
        [_clause(examples[i]) for i in keep],
        np.array([examples[i].polarity > 0 for i in keep], dtype=bool),
        mixed[keep],
        len(examples) - len(keep),
    )


def _retain(terms: _Terms, model: SentimentModel, widen_below: float) -> np.ndarray:
    return np.array([p for p, _ in clause_opinions(terms.clauses, model, widen_below)])


def _tfidf() -> list[TfidfVectorizer]:
    return [
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    ]


def _supervised(train: _Terms, test: _Terms) -> tuple[np.ndarray, float]:
    """P(positive)-like scores from a linear SVM trained on aspect labels, and its C."""
    blocks_fit, blocks_test = [], []
    for span in (lambda c: c.text, lambda c: c.segment):
        for vectorizer in _tfidf():
            blocks_fit.append(vectorizer.fit_transform([span(c) for c in train.clauses]))
            blocks_test.append(vectorizer.transform([span(c) for c in test.clauses]))
    x_fit, x_test = sp.hstack(blocks_fit).tocsr(), sp.hstack(blocks_test).tocsr()
    truth = train.truth
    folds = min(5, int(truth.sum()), int((~truth).sum()))
    c = max(
        (0.1, 0.3, 1.0),
        key=lambda c: float(cross_val_score(LinearSVC(C=c), x_fit, truth, cv=folds).mean()),
    )
    margin = LinearSVC(C=c).fit(x_fit, truth).decision_function(x_test)
    return 1.0 / (1.0 + np.exp(-margin)), c


def _lexicon_coverage(terms: _Terms, right: np.ndarray) -> dict[str, Any]:
    """How many terms' clauses the default lexicon names an aspect in, and Retain's
    accuracy on the terms of each aspect (what a shop's aspect table would show)."""
    named: dict[str, list[bool]] = {}
    covered = 0
    for clause, ok in zip(terms.clauses, right.tolist(), strict=True):
        aspects = aspects_named(clause.text)
        covered += bool(aspects)
        for aspect in aspects:
            named.setdefault(aspect, []).append(ok)
    return {
        "clauses_naming_an_aspect": covered / max(len(terms.clauses), 1),
        "by_aspect": {
            aspect: {"terms": len(oks), "accuracy": float(np.mean(oks))}
            for aspect, oks in sorted(named.items(), key=lambda kv: -len(kv[1]))
        },
    }


def run_aspect_benchmark(
    data: Path, reviews: Path, *, dev: Path | None = None, seed: int = 0
) -> dict[str, Any]:
    """Run the protocol in the module docstring; a JSON-ready dict."""
    test = _polar(data)
    truth, mixed = test.truth, test.mixed
    tick = time.perf_counter()
    labelled, duplicates, _ = deduplicate(labelled_reviews_from_csv(reviews))
    model = SentimentModel(SentimentSettings(seed=seed)).fit(labelled.texts, labelled.labels)
    train_seconds = time.perf_counter() - tick

    tick = time.perf_counter()
    retain = _retain(test, model, WIDEN_BELOW)
    seconds = time.perf_counter() - tick
    result: dict[str, Any] = {
        "metrics": _scores(truth, retain, mixed),
        "baselines": {
            "sentence": _scores(truth, model.predict_proba(test.sentences), mixed),
            "clause_only": _scores(truth, _retain(test, model, 0.0), mixed),
        },
        "widen_below": WIDEN_BELOW,
        "terms_per_second": len(truth) / max(seconds, 1e-9),
        "data": {
            "file": str(data),
            "polar_terms": len(truth),
            "positive_share": float(truth.mean()),
            "neutral_left_out": test.neutral,
            "mixed_terms": int(mixed.sum()),
            "majority_accuracy": float(max(truth.mean(), 1 - truth.mean())),
        },
        "lexicon": _lexicon_coverage(test, (retain >= 0.5) == truth),
        "review_model": {
            "reviews": str(reviews),
            "trained_on": len(labelled.texts),
            "duplicates_removed": duplicates,
            "train_seconds": train_seconds,
            **model.meta,
        },
        "seed": seed,
        "machine": machine(),
    }
    if dev is not None:
        train = _polar(dev)
        result["dev"] = {
            "file": str(dev),
            "polar_terms": len(train.truth),
            "by_widen_below": {
                str(bar): _scores(train.truth, _retain(train, model, bar), train.mixed)
                for bar in DEV_GRID
            },
            "sentence": _scores(train.truth, model.predict_proba(train.sentences), train.mixed),
        }
        # Cross-validation needs two terms of each polarity.
        if min(train.truth.sum(), (~train.truth).sum()) >= 2:
            supervised, c = _supervised(train, test)
            result["baselines"]["supervised_on_dev"] = {**_scores(truth, supervised, mixed), "c": c}
    return result
