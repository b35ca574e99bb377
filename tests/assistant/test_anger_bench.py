"""The review model applied to customer-service messages: how often it flags complaints
against other messages (the evidence behind the assistant's anger hand-off)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from retain.assistant.anger_bench import THRESHOLDS, run_chat_sentiment_benchmark
from retain.errors import InvalidInputError
from tests.sentiment.conftest import phrase_reviews


def _files(tmp_path: Path, complaints: list[str]) -> tuple[Path, Path]:
    texts, labels, _ = phrase_reviews(200, seed=11)
    reviews = tmp_path / "reviews.csv"
    with reviews.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "review"])
        writer.writerows(zip(labels, texts, strict=True))
    messages = tmp_path / "messages.csv"
    with messages.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["flags", "utterance", "category", "intent"])
        for text in complaints:
            writer.writerow(["B", text, "FEEDBACK", "complaint"])
        for text in ["where is my order", "track my parcel", "I want a refund", "change address"]:
            writer.writerow(["B", text, "ORDER", "track_order"])
    return reviews, messages


def test_complaints_and_other_messages_are_counted_per_threshold(tmp_path: Path) -> None:
    reviews, messages = _files(tmp_path, ["poor quality, it broke", "terrible, very bad"])
    result = run_chat_sentiment_benchmark(reviews, messages)
    assert result["complaint_messages"] == 2 and result["other_messages"] == 4
    assert set(result["flagged"]) == {str(t) for t in THRESHOLDS}
    for shares in result["flagged"].values():
        assert 0.0 <= shares["complaint"] <= 1.0 and 0.0 <= shares["other"] <= 1.0
    # Lower thresholds flag at least as much.
    flagged = [result["flagged"][str(t)]["complaint"] for t in THRESHOLDS]
    assert flagged == sorted(flagged, reverse=True)
    assert {name for name, _ in result["most_flagged_intents_at_0.9"]} == {
        "complaint",
        "track_order",
    }


def test_messages_without_complaints_are_refused_with_the_reason(tmp_path: Path) -> None:
    reviews, messages = _files(tmp_path, [])
    with pytest.raises(InvalidInputError, match="'complaint'"):
        run_chat_sentiment_benchmark(reviews, messages)
