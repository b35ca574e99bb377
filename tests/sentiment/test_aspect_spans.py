"""Aspect spans: clauses inside segments, and widening an unclear clause to its segment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from retain.sentiment import SentimentModel, find_aspects
from retain.sentiment.aspects import clause_at, clause_opinions, clauses


class _Opinions:
    """A review model that knows a fixed probability for each text (0.5 otherwise)."""

    def __init__(self, p: dict[str, float]) -> None:
        self.p = p
        self.read: list[str] = []

    def predict_proba(self, texts: Sequence[str], *_: Any) -> np.ndarray:
        self.read += list(texts)
        return np.array([self.p.get(t, 0.5) for t in texts])


def test_each_clause_knows_its_segment() -> None:
    review = "Screen is sharp, battery 3.5 hours; sadly it runs hot. 物流很快，但是包装破了"
    found = clauses(review)
    assert [c.text for c in found] == [
        "Screen is sharp",
        "battery 3.5 hours",  # the full stop between digits does not end a sentence
        "sadly it runs hot",
        "物流很快",
        "包装破了",
    ]
    assert found[1].segment == "Screen is sharp, battery 3.5 hours"
    assert found[2].segment == "sadly it runs hot"
    assert found[3].segment == "物流很快"
    for clause in found:
        assert review[clause.start : clause.end] == clause.text
    assert clause_at(review, review.index("3.5")) == found[1]
    assert clause_at(review, review.index(";")) is None


def test_an_unclear_clause_takes_the_opinion_of_the_span_around_it() -> None:
    review = "I bought it for the battery, it lasts all day"
    [battery, lasts] = clauses(review)
    model = _Opinions({"it lasts all day": 0.9, review: 0.85})
    opinions = clause_opinions([battery, lasts], cast(SentimentModel, model))
    # "I bought it for the battery" says nothing (0.5): its segment does.
    assert opinions == [(0.85, review), (0.9, "it lasts all day")]
    assert len(model.read) == len(set(model.read)) == 3  # two clauses, one shared segment
    # A bar of 0 keeps every clause alone, however unclear.
    assert clause_opinions([battery], cast(SentimentModel, model), 0.0)[0][1] == battery.text


def test_nothing_clear_takes_the_clearer_span() -> None:
    first = clauses("the battery, well")[0]
    model = _Opinions({"the battery": 0.45, "the battery, well": 0.6})
    assert clause_opinions([first], cast(SentimentModel, model)) == [(0.6, "the battery, well")]
    model = _Opinions({"the battery": 0.3, "the battery, well": 0.6})
    assert clause_opinions([first], cast(SentimentModel, model)) == [(0.3, "the battery")]


def test_the_widening_stops_at_a_contrast_word() -> None:
    # "but" says the opinion turns: the unclear clause never borrows the praise before it.
    review = "Lovely screen but the battery"
    model = _Opinions({"Lovely screen": 0.95, review: 0.9})
    [(p, span)] = clause_opinions([clauses(review)[1]], cast(SentimentModel, model))
    assert (p, span) == (0.5, "the battery")


def test_a_contrast_keeps_the_widening_on_its_own_side(phrase_model: SentimentModel) -> None:
    # The segment stops at "but": the packaging clause never borrows the delivery praise.
    found = {
        (m.aspect, m.polarity)
        for m in find_aspects("Fast delivery but the box arrived crushed", phrase_model)
    }
    assert found == {("delivery", "positive"), ("packaging", "negative")}


def test_chinese_contrast_words_turn_a_sentence_only_where_they_mean_but() -> None:
    segments = {c.text: c.segment for c in clauses("挺好的，就是有点小")}
    assert segments == {"挺好的": "挺好的", "有点小": "有点小"}
    assert [c.segment for c in clauses("物流很快但是包装破了")] == ["物流很快", "包装破了"]
    # Inside a clause they mean "simply", "nothing special", "not only": no turn.
    assert [c.text for c in clauses("对京东的配送就是差评")] == ["对京东的配送就是差评"]
    assert [c.text for c in clauses("这款手机不过如此")] == ["这款手机不过如此"]
    assert {c.segment for c in clauses("不但便宜，而且好用")} == {"不但便宜，而且好用"}
