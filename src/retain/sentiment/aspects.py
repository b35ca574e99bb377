"""Which parts of the experience a review praises or blames.

A review is cut into clauses (punctuation and contrast words such as
"but" / 但是 / 就是), each clause is matched against an aspect lexicon in
English and Chinese, and the polarity of every clause that names an aspect
is scored by the review model itself. "Fast delivery but the box arrived
crushed" thus yields delivery +, packaging −, which one review-level label
cannot say. The lexicon is data: a shop can pass its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retain.sentiment.model import SentimentModel

__all__ = ["ASPECTS", "AspectMention", "find_aspects", "find_aspects_many", "split_clauses"]

#: aspect -> (English words or phrases, Chinese words). English terms match
#: whole words; Chinese terms match as substrings.
ASPECTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "quality": (
        (
            "quality",
            "well made",
            "badly made",
            "build",
            "material",
            "materials",
            "broke",
            "breaks",
            "defect",
            "defects",
            "defective",
            "sturdy",
            "durable",
            "flimsy",
            "cheaply made",
            "stopped working",
        ),
        ("质量", "做工", "品质", "用料", "材质", "瑕疵", "耐用", "结实", "粗糙"),
    ),
    "price": (
        (
            "price",
            "priced",
            "pricey",
            "expensive",
            "cheap",
            "value",
            "worth",
            "overpriced",
            "deal",
            "cost",
            "costs",
            "money",
        ),
        ("价格", "价钱", "性价比", "贵", "便宜", "划算", "实惠", "降价", "价位", "值这个价"),
    ),
    "delivery": (
        (
            "delivery",
            "delivered",
            "shipping",
            "shipped",
            "ship",
            "courier",
            "tracking",
            "dispatch",
            "dispatched",
        ),
        ("物流", "快递", "发货", "送货", "配送", "到货", "送到", "派送"),
    ),
    "packaging": (
        ("packaging", "package", "packaged", "box", "boxes", "wrapped", "wrapping", "packed"),
        ("包装", "盒子", "箱子", "封口", "外包装"),
    ),
    "service": (
        (
            "service",
            "customer service",
            "support",
            "seller",
            "staff",
            "reception",
            "refund",
            "replied",
            "responded",
            "helpful",
            "rude",
        ),
        ("客服", "服务", "态度", "售后", "卖家", "商家", "前台", "服务员"),
    ),
    "size": (
        (
            "size",
            "sizes",
            "sizing",
            "fit",
            "fits",
            "fitting",
            "runs small",
            "runs large",
            "too small",
            "too big",
            "too tight",
            "tight",
            "loose",
        ),
        ("尺码", "尺寸", "大小", "偏大", "偏小", "合身", "码数", "号码", "太小", "太大"),
    ),
    "authenticity": (
        ("fake", "genuine", "authentic", "counterfeit", "original", "knockoff"),
        ("正品", "假货", "假的", "真品", "山寨", "行货", "水货"),
    ),
    "taste": (
        (
            "taste",
            "tastes",
            "tasty",
            "flavor",
            "flavour",
            "sweet",
            "sour",
            "fresh",
            "stale",
            "delicious",
        ),
        ("口感", "味道", "好吃", "难吃", "口味", "新鲜", "甜", "酸"),
    ),
    "performance": (
        (
            "battery",
            "screen",
            "speed",
            "lag",
            "laggy",
            "performance",
            "sound",
            "crash",
            "crashes",
            "overheats",
            "runs hot",
        ),
        (
            "电池",
            "屏幕",
            "速度",
            "卡顿",
            "很卡",
            "运行",
            "性能",
            "音质",
            "待机",
            "发热",
            "发烫",
            "死机",
            "续航",
        ),
    ),
}

_CLAUSE = re.compile(
    r"[，,。.!！?？;；\n、~～…]+|(?<![a-z])(?:but|however|although|though|except)(?![a-z])"
    r"|但是|可是|不过|就是|但|只是",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AspectMention:
    """One aspect named in one clause, with that clause's polarity."""

    aspect: str
    polarity: str  # "positive" or "negative"
    p_positive: float
    evidence: str

    def as_dict(self) -> dict[str, object]:
        return {
            "aspect": self.aspect,
            "polarity": self.polarity,
            "p_positive": round(self.p_positive, 4),
            "evidence": self.evidence,
        }


def split_clauses(text: str) -> list[str]:
    """The review's clauses, trimmed, empty ones dropped."""
    return [c.strip() for c in _CLAUSE.split(text) if c and c.strip()]


def _patterns(
    lexicon: Mapping[str, tuple[Sequence[str], Sequence[str]]],
) -> dict[str, re.Pattern[str]]:
    out = {}
    for aspect, (english, chinese) in lexicon.items():
        parts = [rf"(?<![a-z]){re.escape(w)}(?![a-z])" for w in english]
        parts += [re.escape(w) for w in chinese]
        out[aspect] = re.compile("|".join(parts), re.IGNORECASE)
    return out


_DEFAULT_PATTERNS = _patterns(ASPECTS)


def find_aspects(
    text: str,
    model: SentimentModel,
    lexicon: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
) -> list[AspectMention]:
    """Aspects ``text`` names, each with the polarity of the clause that names it."""
    return find_aspects_many([text], model, lexicon)[0]


def find_aspects_many(
    texts: Sequence[str],
    model: SentimentModel,
    lexicon: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
) -> list[list[AspectMention]]:
    """:func:`find_aspects` for many reviews, their clauses scored in one batch."""
    patterns = _DEFAULT_PATTERNS if lexicon is None else _patterns(lexicon)
    found: list[tuple[int, str, str]] = []
    for row, text in enumerate(texts):
        for clause in split_clauses(text if isinstance(text, str) else ""):
            for aspect, pattern in patterns.items():
                if pattern.search(clause):
                    found.append((row, aspect, clause))
    out: list[list[AspectMention]] = [[] for _ in texts]
    if not found:
        return out
    probs = model.predict_proba([clause for _, _, clause in found])
    for (row, aspect, clause), p in zip(found, probs.tolist(), strict=True):
        polarity = "positive" if p >= 0.5 else "negative"
        out[row].append(AspectMention(aspect, polarity, float(p), clause))
    return out
