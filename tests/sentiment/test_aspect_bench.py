"""``retain bench aspects`` on small SemEval-layout files: the figures and clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from retain.data.loaders.absa import read_absa_seg
from retain.errors import InvalidInputError
from retain.sentiment.aspect_bench import DEV_GRID, run_aspect_benchmark
from tests.conftest import write
from tests.sentiment.conftest import phrase_reviews

SEG = """The $T$ is fast , but the box arrived crushed .
delivery
1
The delivery is fast , but the $T$ arrived crushed .
box
-1
  The $T$ was fine I guess .
size
0
Great value for the $T$ .
price
1
"""


def _reviews(path: Path) -> Path:
    """An English shop's labelled reviews, as the aspect terms are English."""
    texts, labels, languages = phrase_reviews(600, seed=5)
    english = [i for i, language in enumerate(languages) if language == "en"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["label", "review"])
        out.writerows((labels[i], texts[i]) for i in english)
    return path


def test_the_reader_puts_the_term_back_and_knows_where_it_is(tmp_path: Path) -> None:
    examples = read_absa_seg(write(tmp_path / "t.xml.seg", SEG))
    assert len(examples) == 4
    first, third = examples[0], examples[2]
    assert first.sentence == "The delivery is fast , but the box arrived crushed ."
    assert first.sentence[first.start : first.start + len(first.term)] == "delivery"
    assert (third.sentence, third.start, third.polarity, third.line) == (
        "The size was fine I guess .",
        4,
        0,
        7,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("The term .\nterm\n1\n", "must hold $T$ once"),
        ("The $T$ .\n\n1\n", "the term on line 2 is empty"),
        ("The $T$ .\nterm\npositive\n", "must be -1, 0 or 1, got 'positive'"),
        ("The $T$ .\nterm\n", "not a multiple of three"),
        ("", "no example"),
    ],
)
def test_a_malformed_file_is_refused_with_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("$", r"\$")):
        read_absa_seg(write(tmp_path / "bad.xml.seg", text))
    with pytest.raises(InvalidInputError, match="UTF-8"):
        read_absa_seg(write(tmp_path / "bytes.xml.seg", b"\xff\xfe$T$\n"))


def test_benchmark_scores_spans_against_the_sentence_baseline(tmp_path: Path) -> None:
    data = write(tmp_path / "t.xml.seg", SEG)
    result = run_aspect_benchmark(data, _reviews(tmp_path / "r.csv"), dev=data)
    assert result["data"]["polar_terms"] == 3 and result["data"]["neutral_left_out"] == 1
    assert result["data"]["mixed_terms"] == 2
    # Both terms of the mixed sentence right by their clauses; one sentence label
    # gives them the same polarity, so it gets one of the two wrong.
    assert result["metrics"]["mixed_accuracy"] == 1.0
    assert result["baselines"]["sentence"]["mixed_accuracy"] == 0.5
    assert result["metrics"]["accuracy"] == 1.0
    assert set(result["dev"]["by_widen_below"]) == {str(b) for b in DEV_GRID}
    assert "supervised_on_dev" not in result["baselines"]  # one negative term: nothing to fold
    assert result["lexicon"]["by_aspect"]["delivery"] == {"terms": 1, "accuracy": 1.0}
    assert result["terms_per_second"] > 0


def test_a_dev_file_with_labels_enough_trains_the_supervised_reference(tmp_path: Path) -> None:
    good = ["great", "excellent", "superb", "lovely", "fantastic"]
    bad = ["awful", "terrible", "broken", "useless", "horrible"]
    dev = "".join(
        f"The $T$ is {word} .\n{term}\n{1 if word in good else -1}\n"
        for word in good + bad
        for term in ("screen", "battery")
    )
    result = run_aspect_benchmark(
        write(tmp_path / "t.xml.seg", SEG),
        _reviews(tmp_path / "r.csv"),
        dev=write(tmp_path / "dev.xml.seg", dev),
    )
    reference = result["baselines"]["supervised_on_dev"]
    assert reference["c"] in (0.1, 0.3, 1.0) and 0 <= reference["accuracy"] <= 1
