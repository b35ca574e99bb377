"""Which parts of the experience a review praises or blames.

A review is cut into clauses (punctuation and contrast words such as
"but" / 但是 / 就是), each clause is matched against an aspect lexicon in
English and Chinese, and the polarity of every clause that names an aspect
is scored by the review model itself. "Fast delivery but the box arrived
crushed" thus yields delivery +, packaging −, which one review-level label
cannot say. A clause that says nothing clear on its own borrows the opinion
of its segment, up to the nearest contrast word (:func:`clause_opinions`).
The lexicon is data: a shop can pass its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retain.text.chinese import to_simplified

if TYPE_CHECKING:
    from retain.sentiment.model import SentimentModel

__all__ = [
    "ASPECTS",
    "WIDEN_BELOW",
    "AspectMention",
    "Clause",
    "aspects_named",
    "clause_at",
    "clause_opinions",
    "clauses",
    "find_aspects",
    "find_aspects_many",
    "split_clauses",
]

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
    "appearance": (
        ("appearance", "looks", "design", "color", "colour", "colors", "colours", "stylish"),
        ("外观", "颜色", "色差", "款式", "设计", "样式", "颜值", "漂亮"),
    ),
    "comfort": (
        ("comfortable", "uncomfortable", "comfy", "comfort"),
        ("舒服", "舒适", "透气", "手感"),
    ),
}

#: Where a sentence ends (a full stop between digits, as in "3.5", does not end one).
_SENTENCE_END = re.compile(r"[。!！?？\n…]+|(?<!\d)\.+|\.+(?!\d)")
#: Where a sentence turns: a semicolon or a contrast word. 但是 turns a sentence
#: wherever it stands (not in 不但是, "not only"); 就是, 只是, 不过, 可是 and a lone 但
#: only when they open a clause, since inside one they mean something else:
#: 就是差评 "simply bad", 不过如此 "nothing special", 不但 "not only".
_CONTRAST = re.compile(
    r"[;；]+|(?<![a-z])(?:but|however|although|though|except)(?![a-z])"
    r"|(?<!不)但是"
    r"|(?:(?<=[，,。.!！?？;；、~～…\s])|^)(?:就是|只是|不过|可是|但)",
    re.IGNORECASE,
)
#: Where a segment pauses: commas and list marks.
_PAUSE = re.compile(r"[，,、~～]+")

#: What a span never starts or ends with.
_EDGES = " \t\r\n\u3000，,、~～;；"

#: A clause whose probability is within this of 0.5 carries no clear opinion,
#: so its mention takes the polarity of its segment (its sentence's part
#: between contrast words). Chosen on the SemEval-2014 training files
#: (``retain bench aspects``; README, Benchmarks).
WIDEN_BELOW = 0.25


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


@dataclass(frozen=True)
class Clause:
    """A clause of a review and the segment it sits in, both trimmed.

    ``start``/``end`` are the clause's character offsets in the review, so a
    term found at a known position can be traced to its clause.
    """

    text: str
    start: int
    end: int
    segment: str  # its sentence's part between contrast words or semicolons


def _pieces(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """``text[start:end]`` cut at ``pattern``, as trimmed non-empty offset ranges."""
    out, at = [], start
    for cut in [*pattern.finditer(text, start, end), None]:
        stop = end if cut is None else cut.start()
        piece = text[at:stop]
        if piece.strip(_EDGES):
            left = at + len(piece) - len(piece.lstrip(_EDGES))
            out.append((left, left + len(piece.strip(_EDGES))))
        if cut is not None:
            at = cut.end()
    return out


def clauses(text: str) -> list[Clause]:
    """The review's clauses in order, each with its segment."""
    out = []
    for s0, s1 in _pieces(text, 0, len(text), _SENTENCE_END):
        for g0, g1 in _pieces(text, s0, s1, _CONTRAST):
            for c0, c1 in _pieces(text, g0, g1, _PAUSE):
                out.append(Clause(text[c0:c1], c0, c1, text[g0:g1]))
    return out


def split_clauses(text: str) -> list[str]:
    """The review's clauses, trimmed, empty ones dropped."""
    return [c.text for c in clauses(text)]


def clause_at(text: str, position: int) -> Clause | None:
    """The clause that holds character ``position`` of ``text`` (None: a separator)."""
    return next((c for c in clauses(text) if c.start <= position < c.end), None)


def clause_opinions(
    found: Sequence[Clause], model: SentimentModel, widen_below: float = WIDEN_BELOW
) -> list[tuple[float, str]]:
    """Each clause's probability of being positive, and the span it was read from.

    The clause alone is read first; when it carries no clear opinion (within
    ``widen_below`` of 0.5, as in "I bought it for the battery, it lasts all
    day"), its segment; when neither is clear, the clearer of the two. Short
    clauses lose the context that says what they mean; a contrast word says
    the opinion turns, so the widening stops there (on the SemEval-2014
    training files, widening on to the whole sentence was no better overall
    and worse on sentences that mix opinions).
    """
    spans = [(c.text, c.segment) for c in found]
    unique = list(dict.fromkeys(span for pair in spans for span in pair))
    p_of = dict(zip(unique, model.predict_proba(unique).tolist(), strict=True)) if unique else {}
    out = []
    for pair in spans:
        clear = [span for span in pair if abs(p_of[span] - 0.5) >= widen_below]
        span = clear[0] if clear else max(pair, key=lambda t: abs(p_of[t] - 0.5))
        out.append((float(p_of[span]), span))
    return out


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


def aspects_named(
    text: str, lexicon: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None
) -> list[str]:
    """The aspects whose lexicon words ``text`` contains, in lexicon order."""
    return _named(text, _DEFAULT_PATTERNS if lexicon is None else _patterns(lexicon))


def _named(text: str, patterns: Mapping[str, re.Pattern[str]]) -> list[str]:
    """Aspects named in ``text``, read as Simplified so 物流 matches a review's 物流 or 運費."""
    read = to_simplified(text)
    return [aspect for aspect, pattern in patterns.items() if pattern.search(read)]


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
    widen_below: float = WIDEN_BELOW,
) -> list[list[AspectMention]]:
    """:func:`find_aspects` for many reviews, their spans scored in one batch."""
    patterns = _DEFAULT_PATTERNS if lexicon is None else _patterns(lexicon)
    found: list[tuple[int, str, Clause]] = []
    for row, text in enumerate(texts):
        for clause in clauses(text if isinstance(text, str) else ""):
            found += [(row, aspect, clause) for aspect in _named(clause.text, patterns)]
    out: list[list[AspectMention]] = [[] for _ in texts]
    opinions = clause_opinions([clause for _, _, clause in found], model, widen_below)
    for (row, aspect, _), (p, span) in zip(found, opinions, strict=True):
        polarity = "positive" if p >= 0.5 else "negative"
        out[row].append(AspectMention(aspect, polarity, p, span))
    return out
