"""``retain bench assistant``: outcomes of first messages, scored against expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retain.assistant.answer_bench import (
    BITEXT_EXPECTED,
    ECOMMERCE_FAQ_EXPECTED,
    outcome,
    run_answer_benchmark,
)
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


def _questions(tmp_path: Path, rows: dict[str, list[str]]) -> Path:
    """Our own questions in Bitext's layout (not its text)."""
    lines = ["flags,utterance,category,intent"] + [
        f"B,{text},X,{intent}" for intent, texts in rows.items() for text in texts
    ]
    path = tmp_path / "questions.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_benchmark_scores_our_own_questions(tmp_path: Path) -> None:
    rows = {
        "track_order": ["where is my parcel right now", "has my order been sent yet"],
        "complaint": ["I am unhappy with your service and want to complain"],
        "delete_account": ["please remove my account and all my data"],
        "check_payment_methods": ["which payment methods do you take"],
    }
    result = run_answer_benchmark(_questions(tmp_path, rows), per_intent=5)
    assert result["utterances"] == 5 and result["intents"] == 4
    assert set(result["metrics"]) == {
        "accuracy",
        "wrong_answers",
        "answered",
        "abstained",
        "handoff",
    }
    assert set(result["baselines"]) == {"multilingual_only", "bm25_only"}
    grouping = result["unanswered_grouping"]  # what the Unanswered page would show
    assert set(grouping) == {"questions", "intents", "by_wording", "by_meaning"}
    assert grouping["by_meaning"]["groups"] <= grouping["by_wording"]["groups"]
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


# The questions of the Ecommerce FAQ that ECOMMERCE_FAQ_EXPECTED names, with answers of our own.
_FAQ_ANSWERS = {
    "How can I create an account?": "Click Sign Up at the top of any page and fill in the form.",
    "What payment methods do you accept?": "We take credit cards, debit cards and PayPal.",
    "How can I track my order?": "Open Order History in your account for the tracking link.",
    "What is your return policy?": "Unused products can be sent back within 30 days.",
    "Can I return a product if I changed my mind?": "Yes, if it is unused and complete.",
    "Can I cancel my order?": "Orders can be cancelled until they ship.",
    "How long does shipping take?": "Standard delivery takes 3 to 5 working days.",
    "Do you offer international shipping?": "We deliver to selected countries abroad.",
    "Can I change my shipping address after placing an order?": "Write to us before it ships.",
    "How can I contact customer support?": "Call or e-mail our support team.",
    "Can I change or cancel an item in my order?": "Contact support before the order ships.",
    "How can I leave a product review?": "Use the Write a Review button on the product page.",
    "Do you offer expedited shipping?": "Choose express delivery at checkout.",
    "What is your email newsletter about?": "New products and offers, once a week.",
    "Do you offer live chat support?": "Chat with us on the website during business hours.",
    "Can I order a product for delivery to a different country?": "Yes, see shipping countries.",
    "Can I request an invoice for my order?": "An invoice comes with every order.",
    "Do you sell gift cards?": "Yes, from 10 to 200 euros.",
}


def test_benchmark_with_a_faq_knowledge_base(tmp_path: Path) -> None:
    faq = tmp_path / "faq.json"
    entries = [{"question": q, "answer": a} for q, a in _FAQ_ANSWERS.items()]
    faq.write_text(json.dumps({"questions": entries}), encoding="utf-8")
    rows = {
        "get_invoice": ["can I request an invoice for my order"],
        "complaint": ["I am unhappy with your service and want to complain"],
        "recover_password": ["I forgot my password and cannot log in"],
    }
    result = run_answer_benchmark(_questions(tmp_path, rows), kb=faq, baselines=False)
    assert result["knowledge_base"] == str(faq) and result["articles"] == len(_FAQ_ANSWERS)
    per = result["per_intent"]
    (cited,) = per["get_invoice"]["outcomes"]
    assert result["article_titles"][cited.removeprefix("kb:")] == (
        "Can I request an invoice for my order?"
    )
    assert per["get_invoice"]["accuracy"] == 1.0
    assert per["complaint"]["outcomes"] == {"handoff": 1}
    assert per["recover_password"]["accuracy"] == 1.0  # the FAQ says nothing about passwords
    assert "change_order" in ECOMMERCE_FAQ_EXPECTED  # the FAQ answers it; the demo does not

    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"question": "Hi?", "answer": "Hello."}]), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="expectations exist only for the Ecommerce FAQ"):
        run_answer_benchmark(_questions(tmp_path, rows), kb=other)


def _ecd(tmp_path: Path, conversations: list[list[str]]) -> Path:
    """Our own conversations in the ECD layout: each true response, then a distractor."""
    lines = []
    for turns in conversations:
        segmented = [" ".join(turn) for turn in turns]  # ECD text is word-segmented
        lines += ["\t".join(["1", *segmented, "好 的"]), "\t".join(["0", *segmented, "不 是"])]
    path = tmp_path / "test.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_chinese_turns_are_scored_by_their_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ECD turns are scored by category; context turns and the E5-only baseline are not."""
    from retain.assistant import answer_bench
    from retain.assistant.ecd_labels import turn_key

    labels = {
        "什么时候发货": "ship_when",
        "我要退货": "return_refund",
        "你们太差劲了我要投诉": "complaint",
        "这款是纯棉的吗": "product",
        "好": "context",
    }
    path = _ecd(
        tmp_path,
        [["什么时候发货", "亲付款后24小时内发货", "好"], ["我要退货", "好的"],
         ["你们太差劲了我要投诉"], ["这款是纯棉的吗"], ["没有标签的话"]],
    )  # fmt: skip
    keys = {turn_key(t): c for t, c in labels.items()}
    monkeypatch.setattr(answer_bench, "ECD_TEST_LABELS", keys)
    monkeypatch.setattr(answer_bench, "ECD_LABELS", {turn_key("我要退货"): "return_refund"})
    result = run_answer_benchmark(path, data_format="ecd")
    # "好" (context) and the unlabelled turn are left out.
    assert result["format"] == "ecd" and result["utterances"] == 4
    assert result["development"]["utterances"] == 1
    # The product questions nothing answers are grouped as the Unanswered page would.
    assert result["unanswered_grouping"]["questions"] >= 1
    assert set(result["baselines"]) == {"bm25_only"}
    assert set(result["per_intent"]) == {"ship_when", "return_refund", "complaint", "product"}
    # "When do you ship?" is answered (shipping article or order), the complaint handed off.
    assert result["per_intent"]["ship_when"]["accuracy"] == 1.0
    assert result["per_intent"]["complaint"]["outcomes"] == {"handoff": 1}
    # Written in Traditional characters, the turns are answered as their Simplified originals.
    traditional = result["traditional"]
    assert traditional["turns_changed"] == 4  # 發貨, 退貨, 們, 這
    assert traditional["retain"] == result["metrics"]
    assert set(traditional["without_folding"]) == set(result["metrics"])
    with pytest.raises(InvalidInputError, match="drop --kb"):
        run_answer_benchmark(path, data_format="ecd", kb=tmp_path / "faq.json")


def test_unlabelled_chinese_turns_are_refused(tmp_path: Path) -> None:
    path = _ecd(tmp_path, [["这句话不在标签里", "好的"]])
    with pytest.raises(InvalidInputError, match="found 0 scored test and 0 development turns"):
        run_answer_benchmark(path, data_format="ecd")


def test_every_chinese_category_has_expectations() -> None:
    from retain.assistant.answer_bench import ECD_EXPECTED
    from retain.assistant.ecd_labels import ECD_LABELS, ECD_TEST_LABELS, UNSCORED

    assert len(ECD_LABELS) == 200 and len(ECD_TEST_LABELS) == 160
    assert not set(ECD_LABELS) & set(ECD_TEST_LABELS)
    categories = {*ECD_LABELS.values(), *ECD_TEST_LABELS.values()}
    assert categories - UNSCORED <= set(ECD_EXPECTED)


def test_the_labels_name_turns_of_the_real_sample(shared_data: Path) -> None:
    from retain.assistant.ecd_labels import ECD_LABELS, ECD_TEST_LABELS, UNSCORED, turn_key
    from retain.data.loaders.ecd import read_ecd_turns

    turns = read_ecd_turns(shared_data / "ecd-sample")
    assert len(turns) == 680
    for labels, n, scored in ((ECD_LABELS, 200, 111), (ECD_TEST_LABELS, 160, 85)):
        found = [labels[turn_key(t)] for t in turns if turn_key(t) in labels]
        assert len(found) == n and sum(label not in UNSCORED for label in found) == scored
