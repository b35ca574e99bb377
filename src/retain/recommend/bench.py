"""``retain bench recommend``: full-ranking leave-one-out on a sequence file.

Protocol (the one the published Beauty figures use, without sampled
negatives):

1. Each user's last item is the test target and the second-last the
   validation target; users with fewer than 3 items are dropped.
2. Every method is fitted on the histories without the test item. Retain's
   recommender holds the validation item out itself: its sources and the
   SASRec are trained without it, the SASRec stops early and the blend is
   learned on it (a 5,000-user sample), then the co-occurrence, ALS and
   popularity sources are refitted with it — what a shop does when it serves.
   The plain SASRec baseline (same settings, no text) trains on the same
   data, stopping early on the same kind of sample; the other baselines
   (popularity, item-kNN over the last 3 items, ALS with 128 factors, and
   the "bought next" transition source alone) have nothing to tune.
3. The test target is ranked against all items; items in the user's input
   history are excluded; ties count against the target.
4. HR and NDCG at 5/10/20; mean and standard deviation over ``seeds``.

Latency is the wall time of ``Recommender.recommend(user_id, k=10)`` for
1,000 random users, one request at a time, on the CPU.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from retain.benchmarking import latency_ms, machine
from retain.errors import InvalidInputError
from retain.recommend.metrics import ranking_metrics, target_ranks
from retain.recommend.recommender import Recommender, RecommendSettings
from retain.recommend.sasrec import SASRec
from retain.recommend.sequences import Sequences, SplitSequences, leave_one_out
from retain.recommend.sources import ALS, ItemKNN, Popularity, TransitionKNN

__all__ = ["run_recommend_benchmark"]

BASELINES: tuple[str, ...] = ("popularity", "item_knn_last3", "als", "transition", "sasrec")


def _item_text(sequences: Sequences, attributes: Path | None) -> list[str] | None:
    if attributes is None:
        return None
    from retain.data.loaders import read_item_attributes
    from retain.data.loaders._json import read_json_object
    from retain.recommend.catalogue import item_text as text_of

    if attributes.name.endswith(".item.json"):
        raw = read_json_object(attributes, "item id -> {title, description, brand, categories}")
        rows = {
            str(k): {
                "title": v.get("title"),
                "brand": v.get("brand"),
                "category": str(v.get("categories") or "").split(",")[-1] or None,
                "description": v.get("description"),
            }
            for k, v in raw.items()
            if isinstance(v, dict)
        }
    else:
        rows = {str(r["item_id"]): r for r in read_item_attributes(attributes).to_pylist()}
    return [text_of(rows.get(str(i), {})) for i in sequences.items.ids[1:]]


def _test_metrics(
    score: Callable[[Sequence[np.ndarray]], np.ndarray], split: SplitSequences
) -> dict[str, float]:
    return ranking_metrics(target_ranks(score, split.test_inputs(), split.test_target))


def _baselines(
    split: SplitSequences, fit_input: Sequences, settings: RecommendSettings, seed: int
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, source in (
        ("popularity", Popularity()),
        ("item_knn_last3", ItemKNN(last=3)),
        ("als", ALS(seed=seed)),
        # Retain's own "bought next" source alone: the strongest simple method here.
        ("transition", TransitionKNN()),
    ):
        tick = time.perf_counter()
        source.fit(fit_input)
        out[name] = {
            **_test_metrics(source.score, split),
            "train_seconds": time.perf_counter() - tick,
        }
    rng = np.random.default_rng(seed)
    tuning = settings.tuning_users(split.train.n_items)
    sample = rng.choice(
        len(split.valid_target), min(tuning, len(split.valid_target)), replace=False
    )
    inputs = [split.train.histories[i] for i in sample]
    targets = split.valid_target[sample]
    plain = SASRec(replace(settings.sasrec, seed=seed))
    plain.fit(
        split.train,
        validate=lambda m: ranking_metrics(target_ranks(m.score, inputs, targets), (10,))[
            "ndcg@10"
        ],
    )
    # Best early-stopping value: the same users and targets as the system's
    # held-out sample, so it compares with fit.holdout_by_source["sasrec"]
    # (the text-initialised SASRec) as an ablation of the text start.
    valid = max((h.get("valid", 0.0) for h in plain.history), default=0.0)
    out["sasrec"] = {
        "valid_ndcg10": valid,
        **_test_metrics(plain.score, split),
        "train_seconds": plain.train_seconds,
        "epochs": float(plain.best_epoch),
    }
    return out


def _latency(
    rec: Recommender, users: np.ndarray, seed: int, requests: int = 1000
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    chosen = [str(u) for u in rng.choice(users, min(requests, len(users)), replace=False)]
    return latency_ms(lambda user: rec.recommend(user, k=10), chosen)


def run_recommend_benchmark(
    data: Path,
    *,
    attributes: Path | None = None,
    seeds: int = 1,
    settings: RecommendSettings | None = None,
    baselines: bool = True,
) -> dict[str, Any]:
    """Run the protocol in the module docstring; returns the JSON-ready result."""
    if seeds < 1:
        raise InvalidInputError(f"seeds must be at least 1; got {seeds}")
    base = settings or RecommendSettings()
    if attributes is None:
        base = replace(base, text_model=None)
    sequences = Sequences.from_file(data)
    split = leave_one_out(sequences)
    fit_input = Sequences(split.train.users, split.test_inputs(), sequences.items)
    item_text = _item_text(sequences, attributes)
    runs: list[dict[str, float]] = []
    base_runs: list[dict[str, dict[str, float]]] = []
    reports: list[dict[str, Any]] = []
    latency: dict[str, float] = {}
    for offset in range(seeds):
        seed = offset
        rec = Recommender(replace(base, seed=seed, exclude_seen=True))
        tick = time.perf_counter()
        rec.fit_sequences(fit_input, item_text)
        train_seconds = time.perf_counter() - tick
        runs.append({**_test_metrics(rec.score_histories, split), "train_seconds": train_seconds})
        assert rec.report is not None
        reports.append(
            {
                "blend_weights": rec.report.blend_weights,
                "holdout_ndcg10": rec.report.holdout_ndcg10,
                "holdout_by_source": rec.report.holdout_by_source,
                "sasrec_epochs": rec.report.sasrec_epochs,
                "seconds": rec.report.seconds,
            }
        )
        if offset == 0:
            latency = _latency(rec, split.train.users, seed)
        if baselines:
            base_runs.append(_baselines(split, fit_input, base, seed))
    keys = [k for k in runs[0] if k != "train_seconds"]
    result: dict[str, Any] = {
        "benchmark": "recommend",
        "data": str(data),
        "attributes": str(attributes) if attributes else None,
        "protocol": "leave-one-out, full ranking over all items, history items excluded",
        "users": len(split.test_target),
        "items": sequences.n_items,
        "interactions": int(sum(len(h) for h in sequences.histories)),
        "seeds": seeds,
        "metrics": {k: float(np.mean([r[k] for r in runs])) for k in keys},
        "metrics_std": {k: float(np.std([r[k] for r in runs])) for k in keys},
        "train_seconds": float(np.mean([r["train_seconds"] for r in runs])),
        "latency_ms": latency,
        "fit": reports,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "machine": machine(),
    }
    if base_runs:
        result["baselines"] = {
            name: {k: float(np.mean([r[name][k] for r in base_runs])) for k in base_runs[0][name]}
            for name in base_runs[0]
        }
        best = max(result["baselines"].items(), key=lambda kv: kv[1]["ndcg@10"])
        result["best_baseline"] = {
            "name": best[0],
            "ndcg@10_gain": result["metrics"]["ndcg@10"] / max(best[1]["ndcg@10"], 1e-12) - 1.0,
        }
    return result
