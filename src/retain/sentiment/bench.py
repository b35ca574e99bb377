"""``retain bench sentiment``: review polarity accuracy, speed, and baselines in the same run.

Protocol:

1. Read a ``label,review[,cat]`` CSV (or a folder layout the loaders know);
   rows with an empty review or a label other than 0/1 are left out and
   counted (``data.skipped``). Identical texts (after normalisation) are
   kept once, and texts seen with both labels dropped, so no test review
   is also a training review (``data.duplicates_removed``).
2. Seeded split, stratified by label: 80% train, 10% validation, 10% test.
   ``--train-size N`` plays a shop with N labelled reviews: N drawn from
   train + validation (stratified, seeded) split 90/10 into train and
   validation for every model; the test split is the same. A model that
   learns from the general reviews (:mod:`retain.sentiment.general`, on by
   default under 2,000 distinct texts) never learns one whose text is a
   test review, and ``variants.without_general`` is the same model
   without them.
3. Every model chooses its settings (C; calibration) on the validation
   split, is then refitted on train + validation, and sees the test split
   only when scored. ``accuracy`` and ``macro_f1`` are on the test split;
   ``per_category`` accuracy when the file has ``cat``; for Chinese data,
   ``traditional``: the test split converted to Traditional characters
   (OpenCC ``s2t``), scored as the product reads it and with the folding
   to Simplified switched off.
4. Baselines in the same run: ``char_ngram`` — character 1-3-gram TF-IDF
   (sublinear tf, min_df 2) with a linear SVM, C from 0.1/0.3/1 on
   validation; with ``--encoder NAME`` also ``encoder_logreg``: the frozen
   encoder's embeddings with logistic regression (``--encoder-limit`` caps
   its training reviews, since a multilingual encoder embeds ~35 reviews/s
   on two cores). Without a limit, ``variants.with_encoder`` is the shipped
   model with that encoder's embedding appended to its features.
5. Speed on the CPU: ``reviews_per_second`` scores the test split in batches
   of 1,000; ``latency_ms`` is one review per call, 300 reviews after a
   warm-up; ``train_seconds`` is the final fit (validation runs included).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from retain.benchmarking import latency_ms, machine
from retain.errors import InvalidInputError
from retain.sentiment.features import distinct_reviews, normalise
from retain.sentiment.model import SentimentModel, SentimentSettings
from retain.sentiment.service import LabelledReviews, labelled_reviews_from_csv
from retain.text.chinese import keep_traditional, to_traditional
from retain.text.language import detect_language

__all__ = ["deduplicate", "run_sentiment_benchmark", "split_reviews"]

Scorer = Callable[[Sequence[str]], np.ndarray]


def deduplicate(reviews: LabelledReviews) -> tuple[LabelledReviews, int, int]:
    """One review per normalised text, so no test review is also a training review.

    A text seen with both labels is dropped altogether (its label is noise).
    Returns the reviews, the number of rows removed, and how many distinct
    texts had both labels.
    """
    keys = [normalise(text) for text in reviews.texts]
    keep, conflicting = distinct_reviews(keys, reviews.labels)
    duplicates = len(reviews.texts) - len(keep)
    cats = reviews.categories
    kept = LabelledReviews(
        [reviews.texts[i] for i in keep],
        [reviews.labels[i] for i in keep],
        [cats[i] for i in keep] if cats is not None else None,
        reviews.skipped,
    )
    return kept, duplicates, conflicting


def split_reviews(
    n: int, labels: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test row numbers: 80/10/10, stratified by label."""
    rows = np.arange(n)
    train, rest = train_test_split(rows, test_size=0.2, stratify=labels, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=seed)
    return train, val, test


def _scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
    }


def _traditional(
    model: SentimentModel,
    texts: list[str],
    truth: np.ndarray,
    categories: list[str | None] | None,
) -> dict[str, float] | None:
    """Accuracy on the test split written in Traditional characters, folded and not.

    Chinese data only (most test reviews detected as Chinese). The reviews are
    converted with OpenCC ``s2t``, as a Taiwan or Hong Kong shopper would
    write them, and scored by the same model: once as the product reads them
    (folded back to Simplified) and once with folding off, which is what the
    model would see without :mod:`retain.text.chinese`.
    """
    if sum(detect_language(t) == "zh" for t in texts) * 2 < len(texts):
        return None
    written = to_traditional(texts)
    folded = float((model.predict(written, categories) == truth).mean())
    with keep_traditional():
        unfolded = float((model.predict(written, categories) == truth).mean())
    return {
        "accuracy": folded,
        "without_folding": unfolded,
        "reviews_changed": float(np.mean([a != b for a, b in zip(texts, written, strict=True)])),
    }


def _throughput(score: Callable[[slice], object], n: int, batch: int = 1000) -> float:
    """Reviews per second when ``score`` gets the rows ``slice`` of the test split."""
    tick = time.perf_counter()
    for start in range(0, n, batch):
        score(slice(start, start + batch))
    return n / max(time.perf_counter() - tick, 1e-9)


def _pick_c(
    make: Callable[[float], Any], x_fit: Any, y_fit: np.ndarray, x_val: Any, y_val: np.ndarray
) -> float:
    def accuracy(c: float) -> float:
        return float((make(c).fit(x_fit, y_fit).predict(x_val) == y_val).mean())

    return max((0.1, 0.3, 1.0), key=accuracy)


def _char_ngram(
    texts: list[str], y: np.ndarray, train: np.ndarray, val: np.ndarray, test: np.ndarray
) -> tuple[dict[str, float], float, Scorer]:
    tick = time.perf_counter()
    clean = [normalise(t) for t in texts]

    def vectorizer() -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)

    vec = vectorizer()
    x_fit = vec.fit_transform([clean[i] for i in train])
    c = _pick_c(
        lambda c: LinearSVC(C=c), x_fit, y[train], vec.transform([clean[i] for i in val]), y[val]
    )
    both = np.concatenate([train, val])
    final = vectorizer()
    svm = LinearSVC(C=c).fit(final.fit_transform([clean[i] for i in both]), y[both])
    seconds = time.perf_counter() - tick

    def score(batch: Sequence[str]) -> np.ndarray:
        return np.asarray(svm.predict(final.transform([normalise(t) for t in batch])))

    test_texts = [texts[i] for i in test]
    metrics = {**_scores(y[test], score(test_texts)), "c": c, "train_seconds": seconds}
    metrics["reviews_per_second"] = _throughput(lambda rows: score(test_texts[rows]), len(test))
    return metrics, seconds, score


def _encoder_logreg(
    name: str,
    texts: list[str],
    y: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    limit: int | None,
    seed: int,
) -> dict[str, float]:
    from retain.text.encoder import load_encoder

    encoder = load_encoder(name)
    rng = np.random.default_rng(seed)
    fit_rows = train if limit is None or limit >= len(train) else rng.choice(train, limit, False)
    tick = time.perf_counter()

    def embed(rows: np.ndarray) -> np.ndarray:
        return np.asarray(encoder.encode([normalise(texts[i]) for i in rows]))

    x_fit, x_val = embed(fit_rows), embed(val)
    c = _pick_c(
        lambda c: LogisticRegression(C=c * 10, max_iter=2000), x_fit, y[fit_rows], x_val, y[val]
    )
    model = LogisticRegression(C=c * 10, max_iter=2000).fit(
        np.vstack([x_fit, x_val]), np.concatenate([y[fit_rows], y[val]])
    )
    seconds = time.perf_counter() - tick
    tick = time.perf_counter()
    predicted = model.predict(embed(test))
    rate = len(test) / max(time.perf_counter() - tick, 1e-9)
    return {
        **_scores(y[test], predicted),
        "train_reviews": len(fit_rows),
        "train_seconds": seconds,
        "reviews_per_second": rate,
    }


def _with_encoder(
    encoder: str,
    pick: Callable[[np.ndarray], tuple[list[str], list[int], list[str | None] | None]],
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
    seed: int,
) -> dict[str, float]:
    """The shipped model with the encoder's embedding appended (``SentimentSettings.encoder``)."""
    model = SentimentModel(SentimentSettings(encoder=encoder, seed=seed))
    model.fit(*pick(train), validation=pick(val))
    texts, _, cats = pick(test)
    tick = time.perf_counter()
    predicted = model.predict(texts, cats)
    rate = len(texts) / max(time.perf_counter() - tick, 1e-9)
    return {
        **_scores(y[test], predicted),
        "train_seconds": model.train_seconds,
        "reviews_per_second": rate,
    }


def run_sentiment_benchmark(
    data: Path | LabelledReviews,
    *,
    seed: int = 0,
    settings: SentimentSettings | None = None,
    encoder: str | None = None,
    encoder_limit: int | None = None,
    baselines: bool = True,
    train_size: int | None = None,
) -> dict[str, Any]:
    """Run the protocol in the module docstring on ``data``; a JSON-ready dict."""
    loaded = data if isinstance(data, LabelledReviews) else labelled_reviews_from_csv(data)
    reviews, duplicates, conflicting = deduplicate(loaded)
    texts, y = reviews.texts, np.asarray(reviews.labels)
    cats = reviews.categories
    train, val, test = split_reviews(len(texts), y, seed)
    if train_size is not None:
        train, val = _fewer(np.concatenate([train, val]), y, train_size, seed)

    def pick(rows: np.ndarray) -> tuple[list[str], list[int], list[str | None] | None]:
        return (
            [texts[i] for i in rows],
            [int(y[i]) for i in rows],
            [cats[i] for i in rows] if cats is not None else None,
        )

    test_texts, _, test_cats = pick(test)
    model = SentimentModel(settings or SentimentSettings(seed=seed)).fit(
        *pick(train), validation=pick(val), held_out=test_texts
    )
    predicted = model.predict(test_texts, test_cats)
    metrics: dict[str, Any] = _scores(y[test], predicted)
    p_positive = model.predict_proba(test_texts, test_cats)
    p_truth = np.where(y[test] == 1, p_positive, 1.0 - p_positive)
    metrics["log_loss"] = float(-np.mean(np.log(np.clip(p_truth, 1e-9, 1.0))))
    if test_cats is not None:
        metrics["per_category"] = {
            str(c): float((predicted[mask] == y[test][mask]).mean())
            for c in sorted({c for c in test_cats if c})
            if (mask := np.array([t == c for t in test_cats])).any()
        }
    traditional = _traditional(model, test_texts, y[test], test_cats)
    if traditional is not None:
        metrics["traditional"] = traditional

    rate = _throughput(
        lambda rows: model.predict_proba(test_texts[rows], test_cats[rows] if test_cats else None),
        len(test_texts),
    )
    single = latency_ms(
        lambda i: model.predict_proba([test_texts[i]], [test_cats[i]] if test_cats else None),
        list(range(min(300, len(test_texts)))),
    )
    result: dict[str, Any] = {
        "metrics": metrics,
        "baselines": {},
        "train_seconds": model.train_seconds,
        "reviews_per_second": rate,
        "latency_ms": single,
        "model": model.meta,
        "data": {
            "reviews": len(texts),
            "skipped": len(reviews.skipped),
            "duplicates_removed": duplicates,
            "conflicting_removed": conflicting,
            "train": len(train),
            "validation": len(val),
            "test": len(test),
            "positive_share": float(y.mean()),
            "has_categories": cats is not None,
        },
        "seed": seed,
        "machine": machine(),
    }
    if baselines:
        char, _, _ = _char_ngram(texts, y, train, val, test)
        result["baselines"]["char_ngram"] = char
        result["gain_over_char_ngram"] = metrics["accuracy"] - char["accuracy"]
        if encoder is not None:
            result["baselines"]["encoder_logreg"] = _encoder_logreg(
                encoder, texts, y, train, val, test, encoder_limit, seed
            )
    variants: dict[str, Any] = {}
    if model.meta.get("general_texts") or model.meta.get("lexicon"):
        variants["without_general"] = _without_general(model.settings, pick, train, val, test, y)
    if encoder is not None and encoder_limit is None:
        variants["with_encoder"] = _with_encoder(encoder, pick, train, val, test, y, seed)
    if variants:
        result["variants"] = variants
    return result


def _fewer(rows: np.ndarray, y: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation rows of ``size`` reviews drawn from ``rows``, split 90/10.

    Raises:
        InvalidInputError: ``size`` is under 20 or above what ``rows`` holds.
    """
    if not 20 <= size <= len(rows):
        raise InvalidInputError(
            f"--train-size must be between 20 and {len(rows):,} (the reviews outside the "
            f"test split); got {size:,}"
        )
    if size < len(rows):
        rows, _ = train_test_split(rows, train_size=size, stratify=y[rows], random_state=seed)
    train, val = train_test_split(rows, test_size=0.1, stratify=y[rows], random_state=seed)
    return train, val


def _without_general(
    settings: SentimentSettings,
    pick: Callable[[np.ndarray], tuple[list[str], list[int], list[str | None] | None]],
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
) -> dict[str, float]:
    """The same model trained on the shop's reviews alone (``SentimentSettings(general=False)``)."""
    model = SentimentModel(replace(settings, general=False))
    model.fit(*pick(train), validation=pick(val))
    texts, _, cats = pick(test)
    return {**_scores(y[test], model.predict(texts, cats)), "train_seconds": model.train_seconds}
