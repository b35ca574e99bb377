"""Drafted replies to negative reviews, grounded in the review's aspects and the shop's policy.

A draft is for a person to check and send, never sent by itself. It has three
parts: an apology that names what the customer blamed (from the aspects),
the shop's own policy text for those aspects, quoted verbatim from the
knowledge base (articles found by their tags, in the review's language),
and an invitation to get in touch. The templates contain no numbers, dates,
refunds or other commitments, so every fact in a draft is the policy's.

An optional OpenAI-compatible backend may reword the draft; its text is kept
only when every number in it appears in the policy passages or the review.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from retain.assistant.responder import LLMBackend
from retain.sentiment.aspects import AspectMention

__all__ = ["ASPECT_POLICY_TAGS", "Draft", "PolicyArticle", "draft_reply"]

#: aspect -> knowledge-base tags whose articles hold the relevant policy.
ASPECT_POLICY_TAGS: dict[str, tuple[str, ...]] = {
    "quality": ("quality", "returns"),
    "delivery": ("delivery", "shipping", "tracking"),
    "packaging": ("quality", "returns"),
    "size": ("sizes", "clothing"),
    "service": ("support",),
    "price": (),  # a price complaint gets an apology, not coupon rules
    "authenticity": ("returns",),
    "taste": ("returns",),
    "performance": ("quality", "returns"),
    "appearance": ("returns",),
    "comfort": ("returns",),
}

#: aspect -> (English, Chinese) acknowledgement of what went wrong.
_BLAME: dict[str, tuple[str, str]] = {
    "quality": ("the quality of the product", "商品的质量"),
    "price": ("the price", "价格"),
    "delivery": ("the delivery", "物流配送"),
    "packaging": ("the packaging", "包装"),
    "service": ("our customer service", "我们的客服服务"),
    "size": ("the size or fit", "尺码"),
    "authenticity": ("whether the product is genuine", "商品是否为正品"),
    "taste": ("the taste", "口味"),
    "performance": ("how the product performs", "商品的使用性能"),
    "appearance": ("how the product looks", "商品的外观"),
    "comfort": ("how comfortable the product is", "商品的舒适度"),
}

_TEXT = {
    "en": {
        "open_aspects": "We're sorry to read that you were disappointed with {what}.",
        "open": "We're sorry to read that your experience did not meet your expectations.",
        "policy": "Our policy: {body}",
        "close": "Please reply to this message or contact our support team so we can help.",
    },
    "zh": {
        "open_aspects": "非常抱歉，{what}让您不满意。",
        "open": "非常抱歉这次的购物体验没有让您满意。",
        "policy": "我们的政策：{body}",
        "close": "请回复此消息或联系客服，我们会尽力为您处理。",
    },
}


@dataclass(frozen=True)
class PolicyArticle:
    """A knowledge-base article as far as drafts need it."""

    article_id: str
    body: str
    language: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Draft:
    """A drafted reply and the articles it quotes."""

    text: str
    language: str
    sources: tuple[str, ...]
    generated: bool = False


def _join(parts: Sequence[str], language: str) -> str:
    if language == "zh":
        return "、".join(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _policies(
    aspects: Sequence[str], articles: Iterable[PolicyArticle], language: str, limit: int
) -> list[PolicyArticle]:
    chosen: list[PolicyArticle] = []
    pool = [a for a in articles if (a.language or language) == language]
    for aspect in aspects:
        tags = ASPECT_POLICY_TAGS.get(aspect, ())
        for tag in tags:
            match = next((a for a in pool if tag in a.tags and a not in chosen), None)
            if match is not None:
                chosen.append(match)
                break
        if len(chosen) >= limit:
            break
    return chosen


def draft_reply(
    review: str,
    aspects: Sequence[AspectMention],
    articles: Iterable[PolicyArticle],
    language: str,
    *,
    llm: LLMBackend | None = None,
    max_policies: int = 2,
) -> Draft:
    """A reply to a negative review in ``language`` ('zh' or English otherwise)."""
    lang = "zh" if language == "zh" else "en"
    text = _TEXT[lang]
    blamed = list(dict.fromkeys(m.aspect for m in aspects if m.polarity == "negative"))
    parts = []
    if blamed:
        what = _join([_BLAME[a][1 if lang == "zh" else 0] for a in blamed if a in _BLAME], lang)
        parts.append(text["open_aspects"].format(what=what) if what else text["open"])
    else:
        parts.append(text["open"])
    quoted = _policies(blamed, articles, lang, max_policies)
    parts.extend(text["policy"].format(body=a.body.strip()) for a in quoted)
    parts.append(text["close"])
    draft = Draft(
        text=("" if lang == "zh" else " ").join(parts),
        language=lang,
        sources=tuple(a.article_id for a in quoted),
    )
    if llm is None:
        return draft
    reply_language = "Chinese" if lang == "zh" else "English"
    context = "\n\n".join(a.body for a in quoted)
    reworded = llm.grounded(
        "You write replies to unhappy customers' product reviews for a shop. Keep every fact "
        "of the draft and add none: no numbers, dates, refunds, discounts or promises that "
        f"the policy text does not state. Write in {reply_language}, in at most four sentences.",
        f"Review:\n{review}\n\nPolicy:\n{context or '(none)'}\n\nDraft:\n{draft.text}",
        allowed=f"{context}\n{review}",
    )
    if reworded is None:
        return draft
    return Draft(reworded, lang, draft.sources, generated=True)
