"""``retain bench intent``: intent accuracy, out-of-scope handling and latency.

Protocol:

1. Train on the data's train split (plus ``oos_train`` where it exists);
   temperature and threshold come from ``val`` (plus ``oos_val``) where it
   exists, otherwise from a stratified 10% of train, after which the model is
   refitted on all of train. Test data is never seen before scoring.
2. Without out-of-scope data, ``accuracy`` is top-1 accuracy on the test
   split (every test utterance is in scope, so nothing should be rejected;
   the share the threshold would reject is reported as ``rejected``, and
   ``ece`` says how far the top intent's confidence is from how often it is
   right: the mean gap over ten equal-count bins of confidence). With
   out-of-scope data, ``accuracy`` is in-scope accuracy: right intent and not
   rejected; ``oos_recall`` and ``oos_precision`` treat "out of scope" as the
   positive class. ``macro_f1`` is over the in-scope intents.
3. ``--oos-intents N`` makes out-of-scope data from a file without any: N
   intents, drawn with the seed, leave the label set; their train
   utterances become ``oos_train``, their test utterances ``oos_test``
   (the held-out-intent construction of Banking77-OOS, Zhang et al. 2022).
   With ``--oos-threshold-only`` their train utterances go to ``oos_val``
   instead: nothing out of scope is learned, it only sets the threshold.
4. Baselines in the same run: TF-IDF (words + character n-grams) with a
   linear SVM, and the frozen sentence encoder with logistic regression;
   both get the same out-of-scope class and validation threshold.
5. Latency: ``predict`` on one utterance at a time, 500 test utterances,
   after a warm-up, on the CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from retain.assistant.intents import OUT_OF_SCOPE, IntentClassifier, IntentSettings
from retain.benchmarking import expected_calibration_error, latency_ms, machine
from retain.data.loaders.intents import IntentDataset, read_intents
from retain.errors import InvalidInputError

__all__ = ["hold_out_intents", "run_intent_benchmark"]

Predict = Callable[[Sequence[str]], list[str | None]]


def hold_out_intents(
    data: IntentDataset, n: int, seed: int, *, learn: bool = True
) -> IntentDataset:
    """``data`` with ``n`` seeded-random intents moved to the out-of-scope splits.

    With ``learn`` their train utterances become ``oos_train`` (a class to
    learn); without, they become ``oos_val``, used only to choose the
    threshold.
    """
    intents = data.intents
    if not 0 < n < len(intents) - 1:
        raise InvalidInputError(f"--oos-intents must be between 1 and {len(intents) - 2}, got {n}")
    held = set(np.random.default_rng(seed).choice(intents, n, replace=False).tolist())

    def keep(split: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(t, label) for t, label in split if label not in held]

    def drop(split: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(t, OUT_OF_SCOPE) for t, label in split if label in held]

    return IntentDataset(
        train=keep(data.train),
        val=keep(data.val),
        test=keep(data.test),
        oos_train=[*data.oos_train, *(drop(data.train) if learn else [])],
        oos_val=[*data.oos_val, *drop(data.val), *([] if learn else drop(data.train))],
        oos_test=[*data.oos_test, *drop(data.test)],
    )


def _metrics(
    predicted: list[str | None], data: IntentDataset, rejected_share: float
) -> dict[str, float]:
    truth = [label for _, label in data.test] + [None] * len(data.oos_test)
    n_in = len(data.test)
    in_pred, in_true = predicted[:n_in], truth[:n_in]
    labels = sorted({str(label) for label in in_true})
    out: dict[str, float] = {
        "accuracy": float(np.mean([p == t for p, t in zip(in_pred, in_true, strict=True)])),
        "macro_f1": float(
            f1_score(
                [str(t) for t in in_true],
                [p if p is not None else OUT_OF_SCOPE for p in in_pred],
                labels=labels,
                average="macro",
                zero_division=0,
            )
        ),
    }
    if data.oos_test:
        flagged = [p is None for p in predicted]
        actual = [t is None for t in truth]
        hits = sum(f and a for f, a in zip(flagged, actual, strict=True))
        out["oos_recall"] = hits / max(sum(actual), 1)
        out["oos_precision"] = hits / max(sum(flagged), 1)
    else:
        out["rejected"] = rejected_share
    return out


def _evaluate(model: IntentClassifier, data: IntentDataset) -> dict[str, float]:
    texts = [t for t, _ in data.test] + [t for t, _ in data.oos_test]
    predictions = model.predict(texts)
    if data.oos_test:
        return _metrics([p.intent for p in predictions], data, 0.0)
    # Everything is in scope: score the top intent, and report what the threshold would reject.
    top = [p.alternatives[0][0] for p in predictions]
    rejected = float(np.mean([p.intent is None for p in predictions]))
    out = _metrics([t if t != OUT_OF_SCOPE else None for t in top], data, rejected)
    right = np.array([t == label for t, (_, label) in zip(top, data.test, strict=True)])
    confidence = np.array([p.alternatives[0][1] for p in predictions])
    out["ece"] = expected_calibration_error(confidence, right)
    return out


def _fit(settings: IntentSettings, data: IntentDataset) -> tuple[IntentClassifier, float]:
    tick = time.perf_counter()
    model = IntentClassifier(settings).fit(
        data.train, val=data.val, oos_train=data.oos_train, oos_val=data.oos_val
    )
    return model, time.perf_counter() - tick


def _latency(model: IntentClassifier, texts: list[str], n: int = 500) -> dict[str, float]:
    return latency_ms(lambda text: model.predict([text]), texts[:n])


def _batch_consistency(
    model: IntentClassifier, texts: list[str], n: int = 500
) -> dict[str, float] | None:
    """Cosine between each utterance's embedding made alone (as served) and in a batch
    (as trained): int8 dynamic quantization made them differ (see retain.text.finetune)."""
    from retain.text.finetune import alone_vs_batched_cosine

    encoder = model.encoder
    if encoder is None:
        return None
    cosine = alone_vs_batched_cosine(encoder, texts[:n])
    return {"mean_cosine": float(cosine.mean()), "min_cosine": float(cosine.min())}


def run_intent_benchmark(
    data: Path,
    *,
    test: Path | None = None,
    oos_intents: int = 0,
    oos_learned: bool = True,
    seed: int = 0,
    encoder: str = "all-MiniLM-L6-v2",
    fine_tune_epochs: int = 5,
    fine_tune_bf16: bool = True,
    int8: bool = False,
    baselines: bool = True,
) -> dict[str, Any]:
    """Train, evaluate and time the intent classifier and its baselines on one data set."""
    dataset = read_intents(data, test=test)
    if not dataset.test:
        raise InvalidInputError(f"{data} has no test split; pass --test TEST")
    if oos_intents:
        dataset = hold_out_intents(dataset, oos_intents, seed, learn=oos_learned)
    settings = IntentSettings(
        encoder=encoder,
        seed=seed,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_bf16=fine_tune_bf16,
        quantize=int8,
    )
    model, seconds = _fit(settings, dataset)
    result: dict[str, Any] = {
        "data": str(data),
        "test": str(test) if test else None,
        "protocol": "train on train (+oos_train); calibrate on val or 10% of train; "
        "score test (+oos_test); latency one utterance at a time",
        "intents": len(dataset.intents),
        "sizes": {
            "train": len(dataset.train),
            "test": len(dataset.test),
            "oos_train": len(dataset.oos_train),
            "oos_val": len(dataset.oos_val),
            "oos_test": len(dataset.oos_test),
        },
        "oos_intents_held_out": oos_intents,
        "oos_learned": oos_learned,
        "fine_tune_epochs": fine_tune_epochs,
        "fine_tune_bf16": fine_tune_bf16,
        "int8": int8,
        "seed": seed,
        "metrics": _evaluate(model, dataset),
        "threshold": model.threshold,
        "temperature": model.temperature,
        "train_seconds": seconds,
        "latency_ms": _latency(model, [t for t, _ in dataset.test]),
        "embedding_alone_vs_batched": _batch_consistency(model, [t for t, _ in dataset.test]),
        "machine": machine(),
    }
    if baselines:
        result["baselines"] = {}
        runs = {
            "tfidf_linear": replace(settings, encoder=None, fine_tune_epochs=0),
            "encoder_logreg": replace(
                settings, tfidf=False, classifier="logreg", c=10.0, fine_tune_epochs=0
            ),
        }
        for name, options in runs.items():
            base, base_seconds = _fit(options, dataset)
            result["baselines"][name] = {
                **_evaluate(base, dataset),
                "train_seconds": base_seconds,
                "latency_ms": _latency(base, [t for t, _ in dataset.test], n=200),
            }
    return result
