"""``retain bench assistant``: outcomes of first messages, scored against expectations."""

from __future__ import annotations

from pathlib import Path

import pytest

from retain.assistant.answer_bench import BITEXT_EXPECTED, outcome, run_answer_benchmark
from retain.assistant.dialogue import Reply
from retain.errors import InvalidInputError


def reply(**fields: object) -> Reply:
    base: dict[str, object] = {
        "conversation_id": "c",
        "text": "",
        "intent": None,
        "confidence": 1.0,
        "language": "en",
    }
    return Reply(**{**base, **fields})  # type: ignore[arg-type]


def test_a_reply_is_reduced_to_what_it_did() -> None:
    assert outcome(reply(handed_off=True, intent="human_agent")) == "handoff"
    assert outcome(reply(citations=["kb-returns-zh"], intent="shop_question")) == "kb:returns"
    assert outcome(reply(intent="order_status")) == "action:order_status"
    assert outcome(reply(intent="greeting")) == "unknown"
    assert outcome(reply()) == "unknown"


def test_benchmark_scores_our_own_questions(tmp_path: Path) -> None:
    # Written for this test (Bitext's layout, not its text).
    rows = {
        "track_order": ["where is my parcel right now", "has my order been sent yet"],
        "complaint": ["I am unhappy with your service and want to complain"],
        "delete_account": ["please remove my account and all my data"],
        "check_payment_methods": ["which payment methods do you take"],
    }
    lines = ["flags,utterance,category,intent"] + [
        f"B,{text},X,{intent}" for intent, texts in rows.items() for text in texts
    ]
    path = tmp_path / "questions.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_answer_benchmark(path, per_intent=5)
    assert result["utterances"] == 5 and result["intents"] == 4
    assert set(result["metrics"]) == {
        "accuracy",
        "wrong_answers",
        "answered",
        "abstained",
        "handoff",
    }
    assert set(result["baselines"]) == {"multilingual_only", "bm25_only"}
    per = result["per_intent"]
    assert per["track_order"]["accuracy"] == 1.0
    assert per["complaint"]["outcomes"] == {"handoff": 1}
    assert per["check_payment_methods"]["outcomes"] == {"kb:payment": 1}
    assert per["delete_account"]["accuracy"] == 1.0  # no article fits: no article given


def test_expectations_cover_bitext_and_refuse_unknown_data(tmp_path: Path) -> None:
    assert len(BITEXT_EXPECTED) == 25  # 27 intents (one spelt two ways) less three left out
    path = tmp_path / "other.csv"
    path.write_text("text,category\nhello,greeting\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="none of its intents has an expected outcome"):
        run_answer_benchmark(path)
