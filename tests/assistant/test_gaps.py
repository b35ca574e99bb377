"""Unanswered questions grouped by meaning, so the commonest missing article shows first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from retain.assistant.gaps import group_questions, wording_only
from retain.text.encoder import TextEncoder, load_encoder

T0 = dt.datetime(2026, 3, 1)


def row(question: str, asked: int, users: list[str], minutes: int, **extra: Any) -> dict[str, Any]:
    return {
        "question": question,
        "language": "en",
        "off_topic": False,
        "asked": asked,
        "customers": len(users),
        "user_ids": users,
        "last_asked": T0 + dt.timedelta(minutes=minutes),
        **extra,
    }


ROWS = [
    row("how do I reset my password", 2, ["a", "b"], 1),
    row("do you ship to Canada", 1, ["a"], 2),
    row("can you deliver my parcel to Canada?", 1, ["c"], 3),
    row("do you send orders to canada", 1, ["d"], 4),
    row("I forgot my password and cannot log in", 1, ["b"], 5),
    row("tell me a joke", 4, ["e"], 6, off_topic=True),
]


def test_the_same_missing_answer_in_other_words_is_one_group() -> None:
    english = load_encoder("all-MiniLM-L6-v2")

    def encoder_for(language: str | None) -> TextEncoder | None:
        return english

    groups = group_questions(ROWS, encoder_for, 10)
    summary = [(g["question"], g["asked"], g["customers"], g["wordings"]) for g in groups]
    # Both were asked three times; the password question most recently, so it leads.
    assert summary == [
        ("how do I reset my password", 3, 2, 2),
        ("do you send orders to canada", 3, 3, 3),  # the newest of equally asked wordings
        ("tell me a joke", 4, 1, 1),  # off-topic comes last however often it was asked
    ]
    assert set(groups[1]["variants"]) == {
        "can you deliver my parcel to Canada?",
        "do you ship to Canada",
    }
    assert groups[1]["last_asked"] == T0 + dt.timedelta(minutes=4)
    assert len(group_questions(ROWS, encoder_for, 1)) == 1


def test_without_a_known_encoder_only_exact_wordings_merge() -> None:
    groups = group_questions(ROWS, wording_only, 10)
    first, second = (g["question"] for g in groups[:2])
    assert first == "how do I reset my password"  # asked twice
    assert second == "I forgot my password and cannot log in"  # the newest of the rest
    assert all(g["wordings"] == 1 for g in groups)
