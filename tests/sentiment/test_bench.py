"""``retain bench sentiment`` on a small CSV: the protocol's numbers, baselines and skips."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from retain.errors import InvalidInputError
from retain.sentiment.bench import run_sentiment_benchmark, split_reviews
from retain.sentiment.service import labelled_reviews_from_csv
from tests.conftest import write
from tests.sentiment.conftest import phrase_reviews


def _csv(path: Path, n: int = 300) -> Path:
    texts, labels, languages = phrase_reviews(n, seed=11)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["cat", "label", "review"])
        for text, label, language in zip(texts, labels, languages, strict=True):
            out.writerow(["书籍" if language == "zh" else "books", label, text])
        out.writerow(["books", "1", "   "])  # empty: left out, counted
        out.writerow(["books", "5", "fine"])  # not a 0/1 label: left out, counted
    return path


def test_benchmark_reports_the_protocol_figures_and_the_char_ngram_baseline(
    tmp_path: Path,
) -> None:
    result = run_sentiment_benchmark(_csv(tmp_path / "r.csv"), seed=0)
    data = result["data"]
    assert data["skipped"] == 2 and data["reviews"] + data["duplicates_removed"] == 300
    assert data["reviews"] > 100  # the phrase reviews repeat, and repeats are counted once
    assert data["train"] + data["validation"] + data["test"] == data["reviews"]
    assert abs(data["test"] - data["reviews"] / 10) <= 1
    metrics = result["metrics"]
    assert metrics["accuracy"] >= 0.9 and 0 <= metrics["macro_f1"] <= 1
    assert set(metrics["per_category"]) == {"books", "书籍"}
    char = result["baselines"]["char_ngram"]
    assert {"accuracy", "macro_f1", "train_seconds", "reviews_per_second"} <= set(char)
    assert result["gain_over_char_ngram"] == pytest.approx(metrics["accuracy"] - char["accuracy"])
    assert result["reviews_per_second"] > 0 and result["latency_ms"]["p99"] > 0
    assert result["train_seconds"] > 0


def test_the_split_is_seeded_stratified_and_disjoint() -> None:
    import numpy as np

    labels = np.array([0, 1] * 50)
    a = split_reviews(100, labels, seed=3)
    b = split_reviews(100, labels, seed=3)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    train, val, test = a
    assert len(set(train) | set(val) | set(test)) == 100
    assert labels[test].mean() == 0.5


def test_a_csv_without_usable_rows_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", "label,review\n7,hello\n1,\n")
    with pytest.raises(InvalidInputError, match="no usable labelled review"):
        labelled_reviews_from_csv(path)
    with pytest.raises(InvalidInputError, match="expected columns label and review"):
        labelled_reviews_from_csv(write(tmp_path / "x.csv", "a,b\n1,2\n"))
    invalid = write(tmp_path / "enc.csv", b"label,review\n1,\xff\xfe bad\n")
    with pytest.raises(InvalidInputError, match="cannot read"):
        labelled_reviews_from_csv(invalid)


def test_repeated_and_contradicting_reviews_are_counted_once_or_dropped() -> None:
    from retain.sentiment.bench import deduplicate
    from retain.sentiment.service import LabelledReviews

    reviews = LabelledReviews(
        ["好评", "好评 ", "ＧＯＯＤ", "good", "meh", "meh", "bad"],
        [1, 1, 1, 1, 1, 0, 0],
        None,
        [],
    )
    kept, removed, conflicting = deduplicate(reviews)
    assert kept.texts == ["好评", "ＧＯＯＤ", "bad"]  # full-width folds onto "good"
    assert (removed, conflicting) == (4, 1)


def test_a_folder_of_pos_and_neg_lines_is_read(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "pos.txt").write_text("很好\n非常满意\n", encoding="utf-8")
    with gzip.open(tmp_path / "neg.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("太差了\n\n")
    data = labelled_reviews_from_csv(tmp_path)
    assert data.texts == ["很好", "非常满意", "太差了"] and data.labels == [1, 1, 0]
    assert data.skipped == [(2, "empty review")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"positive\.review"):
        labelled_reviews_from_csv(tmp_path / "empty")
