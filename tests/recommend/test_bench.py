"""``retain bench recommend`` on a small generated sequence file: the JSON a reader relies on."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retain.errors import InvalidInputError
from retain.recommend import RecommendSettings, SASRecConfig
from retain.recommend.bench import run_recommend_benchmark
from retain.recommend.sequences import Sequences


def _write_walks(path: Path, users: int = 300, seed: int = 0) -> Path:
    """Users walk along one of four item chains, with some noise."""
    rng = np.random.default_rng(seed)
    lines = []
    for u in range(1, users + 1):
        chain = int(rng.integers(0, 4))
        start = int(rng.integers(0, 6))
        items = [chain * 20 + start + j + 1 for j in range(int(rng.integers(4, 9)))]
        if rng.random() < 0.3:
            items.insert(int(rng.integers(0, len(items))), int(rng.integers(1, 81)))
        lines.append(" ".join(str(x) for x in [u, *items]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bench_reports_system_baselines_latency_and_beats_popularity(tmp_path: Path) -> None:
    data = _write_walks(tmp_path / "walks.txt")
    settings = RecommendSettings(
        sasrec=SASRecConfig(hidden=16, blocks=1, max_epochs=4, eval_every=2, lr=5e-3),
        holdout_users=200,
    )
    result = run_recommend_benchmark(data, settings=settings, seeds=2)
    json.dumps(result)  # JSON-ready
    metrics = result["metrics"]
    assert {"ndcg@10", "hr@10", "ndcg@5", "hr@20"} <= set(metrics)
    assert set(result["baselines"]) == {
        "popularity",
        "item_knn_last3",
        "als",
        "transition",
        "sasrec",
    }
    assert metrics["ndcg@10"] > 2 * result["baselines"]["popularity"]["ndcg@10"]
    assert result["latency_ms"]["p99"] > 0 and result["train_seconds"] > 0
    assert result["seeds"] == 2 and set(result["metrics_std"]) == set(metrics)


def test_json_sequences_and_bad_seeds(tmp_path: Path) -> None:
    path = tmp_path / "x.inter.json"
    path.write_text(json.dumps({"0": [0, 1, 2, 3], "1": [2, 3, 4]}), encoding="utf-8")
    seqs = Sequences.from_file(path)
    assert len(seqs) == 2 and seqs.n_items == 5
    assert [seqs.items.ids[i] for i in seqs.histories[0]] == ["0", "1", "2", "3"]
    bad = tmp_path / "bad.inter.json"
    bad.write_text(json.dumps({"0": 5}), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="does not map to a list"):
        Sequences.from_file(bad)
    with pytest.raises(InvalidInputError, match="seeds must be at least 1"):
        run_recommend_benchmark(path, seeds=0, settings=replace(RecommendSettings()))
