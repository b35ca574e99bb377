"""Aspects: what a review praises or blames, clause by clause, in Chinese and English."""

from __future__ import annotations

import pytest

from retain.sentiment import SentimentModel, find_aspects
from retain.sentiment.aspects import split_clauses


def test_clauses_split_on_punctuation_and_contrast_words() -> None:
    assert split_clauses("物流很快，但是包装破损") == ["物流很快", "包装破损"]
    assert split_clauses("Fast delivery but the box arrived crushed!") == [
        "Fast delivery",
        "the box arrived crushed",
    ]
    assert split_clauses("   ") == []


@pytest.mark.parametrize(
    ("review", "expected"),
    [
        ("物流很快，第二天就到了，但是包装破损，盒子都压坏了。",
         {("delivery", "positive"), ("packaging", "negative")}),
        ("Fast delivery, arrived the next day. The box arrived crushed.",
         {("delivery", "positive"), ("packaging", "negative")}),
        ("质量很差，用了两天就坏了。客服态度很好，耐心解答。",
         {("quality", "negative"), ("service", "positive")}),
        ("Runs small, does not fit. Good value for the price.",
         {("size", "negative"), ("price", "positive")}),
    ],
)  # fmt: skip
def test_one_review_can_praise_one_aspect_and_blame_another(
    phrase_model: SentimentModel, review: str, expected: set[tuple[str, str]]
) -> None:
    found = {(m.aspect, m.polarity) for m in find_aspects(review, phrase_model)}
    assert found == expected


def test_evidence_is_the_clause_and_a_custom_lexicon_replaces_the_default(
    phrase_model: SentimentModel,
) -> None:
    [mention] = find_aspects("Shipped quickly.", phrase_model)
    assert (mention.aspect, mention.evidence) == ("delivery", "Shipped quickly")
    lexicon = {"battery": (("battery",), ("电池",))}
    assert find_aspects("Shipped quickly.", phrase_model, lexicon) == []
    assert [m.aspect for m in find_aspects("电池不耐用", phrase_model, lexicon)] == ["battery"]


def test_no_aspect_no_mentions(phrase_model: SentimentModel) -> None:
    assert find_aspects("嗯。", phrase_model) == []
    assert phrase_model.aspects(["", "Lovely packaging"])[1][0].polarity == "positive"


def test_looks_and_comfort_are_aspects_in_both_languages() -> None:
    from retain.sentiment.aspects import aspects_named

    assert aspects_named("颜色不对，有色差") == ["appearance"]
    assert aspects_named("穿着不舒服，不透气") == ["comfort"]
    assert aspects_named("The colour is off and it is not comfortable") == [
        "appearance",
        "comfort",
    ]
    assert aspects_named("I look forward to it") == []  # "look" alone names nothing
