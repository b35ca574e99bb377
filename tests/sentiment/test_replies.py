"""Reply drafts: they name what the customer blamed and quote only the shop's policy."""

from __future__ import annotations

import re

from retain.assistant.responder import LLMBackend
from retain.demo.shop import kb_rows
from retain.sentiment.aspects import AspectMention
from retain.sentiment.replies import PolicyArticle, draft_reply
from tests.assistant.test_generation import _Server, server  # noqa: F401  (fixture)

ARTICLES = [
    PolicyArticle(r["article_id"], r["body"], r["language"], tuple(r["tags"])) for r in kb_rows()
]


def _blame(*aspects: str) -> list[AspectMention]:
    return [AspectMention(a, "negative", 0.05, a) for a in aspects]


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:[.,]\d+)?", text))


def test_an_english_draft_apologises_for_the_aspects_and_quotes_the_policy() -> None:
    draft = draft_reply("Slow delivery and a crushed box", _blame("delivery"), ARTICLES, "en")
    shipping = next(a for a in ARTICLES if a.article_id == "kb-shipping-en")
    assert "the delivery" in draft.text and shipping.body in draft.text
    assert draft.sources == ("kb-shipping-en",) and not draft.generated


def test_a_chinese_draft_quotes_the_chinese_policy_only() -> None:
    draft = draft_reply("尺码偏小，穿不上", _blame("size"), ARTICLES, "zh")
    assert draft.language == "zh" and "尺码" in draft.text
    assert draft.sources == ("kb-sizes-zh",)
    assert all(s.endswith("-zh") for s in draft.sources)


def test_drafts_state_no_number_the_policy_does_not() -> None:
    """Templates carry no refunds, dates or amounts: every number comes from a quoted article."""
    by_id = {a.article_id: a.body for a in ARTICLES}
    for aspects in (("quality",), ("delivery", "packaging"), ("price",), ("service",), ()):
        for language in ("en", "zh"):
            draft = draft_reply("bad", _blame(*aspects), ARTICLES, language)
            quoted = "".join(by_id[s] for s in draft.sources)
            assert _numbers(draft.text) <= _numbers(quoted)


def test_price_complaints_get_an_apology_not_coupon_rules() -> None:
    draft = draft_reply("too expensive", _blame("price"), ARTICLES, "en")
    assert draft.sources == () and "the price" in draft.text


def test_every_lexicon_aspect_is_named_in_drafts_in_both_languages() -> None:
    from retain.sentiment.aspects import ASPECTS
    from retain.sentiment.replies import ASPECT_POLICY_TAGS

    assert set(ASPECT_POLICY_TAGS) == set(ASPECTS)
    for aspect in ASPECTS:
        for language, opening in (("en", "disappointed with"), ("zh", "让您不满意")):
            text = draft_reply("bad", _blame(aspect), ARTICLES, language).text
            assert opening in text, (aspect, language)
    colour = draft_reply("色差太大", _blame("appearance"), ARTICLES, "zh")
    assert "商品的外观" in colour.text and colour.sources == ("kb-returns-zh",)


def test_without_policy_articles_the_draft_still_reads_well() -> None:
    draft = draft_reply("bad", _blame("delivery"), [], "en")
    assert draft.sources == () and draft.text.endswith("so we can help.")


def test_a_language_model_rewording_is_kept_only_when_it_adds_no_number(
    server: _Server,  # noqa: F811
) -> None:
    llm = LLMBackend(f"http://127.0.0.1:{server.server_address[1]}/v1", "test-model")
    server.answer = "Sorry about the slow delivery; orders arrive in 2 to 5 business days."
    kept = draft_reply("Slow delivery", _blame("delivery"), ARTICLES, "en", llm=llm)
    assert kept.generated and kept.text == server.answer
    assert "Keep every fact" in str(server.requests[-1]["messages"])
    server.answer = "Sorry! We will refund you 20 dollars today."
    fallback = draft_reply("Slow delivery", _blame("delivery"), ARTICLES, "en", llm=llm)
    assert not fallback.generated and "20" not in fallback.text
