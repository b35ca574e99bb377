"""Knowledge-base retrieval: BM25 and vector search.

Keywords find exact terms (an error code, "invoice"); vectors find the same
meaning in other words or another language ("where is my parcel" ~ "track
your order", 退货 ~ "return"). An article is only returned when one of the
two signals clears an absolute bar (it holds most of the question's terms,
or its vector stands out); otherwise the assistant says it does not know
and offers a human. The relevant articles are ordered by the share of the
question's terms they hold, then by vector similarity. Ranking by the
reciprocal-rank fusion of BM25 and vector ranks, as this module did before,
tied articles that cover a question equally and then let BM25's preference
for a repeated word decide: "什么时候发货" got the cancel article ("订单发货前
…已发货的订单") instead of the shipping one (``retain bench assistant
--format ecd``, development turns). The fusion is still each passage's
``score``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retain.text.chinese import to_simplified
from retain.text.encoder import TextEncoder

__all__ = ["Article", "KnowledgeBase", "Passage", "tokenize"]

_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]+")
_STOP = frozenset((
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "to", "of", "in", "on", "for",
    "and", "or", "my", "me", "i", "you", "your", "it", "its", "do", "does", "did", "can",
    "could", "how", "what", "when", "where", "why", "which", "who", "will", "would", "with",
    "at", "by", "from", "this", "that", "have", "has", "had", "please", "about", "get",
))  # fmt: skip
#: Chinese question words, particles and pronouns. A Chinese run is cut at
#: them before it becomes characters and bigrams: "什么时候发货" keeps only
#: "发货", so the words that carry the question are the terms an article
#: must cover (otherwise 什, 么, 时, 候 and their bigrams outnumber them).
#: Longest first, so "什么时候" goes whole rather than as "什么" + "时候".
_STOP_ZH = (
    "什么时候", "可不可以", "能不能", "是不是", "有没有", "怎么样", "为什么", "什么", "怎么",
    "为啥", "多少", "多久", "哪里", "哪儿", "哪个", "请问", "可以", "一下", "大概", "现在",
    "已经", "还是", "这个", "那个", "我们", "你们", "您好", "你好", "谢谢", "麻烦",
    "的", "了", "吗", "嘛", "呢", "吧", "啊", "呀", "哦", "哈", "嗯", "亲", "我", "你", "您",
    "是", "在",
)  # fmt: skip
_CUT_ZH = re.compile("|".join(sorted(_STOP_ZH, key=len, reverse=True)))
RRF_K = 60


def _is_chinese(character: str) -> bool:
    """Whether a character is a CJK ideograph (the range :data:`_WORD` reads as Chinese)."""
    return "\u3400" <= character <= "\u9fff"


def tokenize(text: str) -> list[str]:
    """English words (lightly stemmed) and Chinese character unigrams and bigrams.

    Character bigrams stand in for a Chinese word segmenter: they need no
    dictionary and match most two-character words. Traditional characters
    are read as Simplified, so 退貨 finds an article about 退货. Chinese function words
    are cut out first (:data:`_STOP_ZH`), and bigrams never span the cut.
    """
    out: list[str] = []
    for token in _WORD.findall(to_simplified(text.lower())):
        if _is_chinese(token[0]):
            for piece in _CUT_ZH.split(token):
                out.extend(piece)
                out.extend(piece[i : i + 2] for i in range(len(piece) - 1))
        elif token not in _STOP:
            out.append(_stem(token))
    return out


def _stem(word: str) -> str:
    """Plural and -ing/-ed endings off, so "returns", "returned" and "return" match."""
    if len(word) <= 4:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            stem = word[: -len(suffix)]
            # "shipping" -> "shipp" -> "ship"
            if stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
                stem = stem[:-1]
            return stem
    return word


def _asks(title: str) -> bool:
    """Whether a title is a question (ends with a question mark, ASCII or full-width)."""
    return title.rstrip().endswith(("?", "\uff1f"))


@dataclass(frozen=True)
class Article:
    """One knowledge-base article."""

    article_id: str
    title: str
    body: str
    language: str | None = None


@dataclass(frozen=True)
class _LanguageVectors:
    """One language's own encoder, its relevance bar, and its articles' vectors."""

    encoder: TextEncoder
    min_cosine: float
    rows: np.ndarray
    vectors: np.ndarray


@dataclass(frozen=True)
class Passage:
    """A retrieved article with why it was retrieved."""

    article: Article
    score: float
    bm25: float
    cosine: float


class KnowledgeBase:
    """Hybrid search over ``kb_articles``.

    Args:
        articles: the articles.
        encoder: a sentence encoder; with ``None`` only BM25 is used.
        min_cosine: an article is relevant when its vector similarity reaches
            this and stands out from the rest of the knowledge base (``min_z``
            standard deviations above the mean similarity, checked when there are
            at least 8 articles), or when ``min_term_coverage`` of the query's
            terms occur in it. Encoders differ in scale: E5 puts unrelated text
            at 0.75-0.87, MiniLM near 0.
        cross_lingual_margin: how much lower the bar is for an article in
            another language than the query's: the same meaning across
            languages scores lower (E5 on the demo articles: about 0.04).
        language_encoders: language -> (encoder, its ``min_cosine``) for
            queries in that language against the articles in it. A
            monolingual model can separate its language's questions better
            than the multilingual one: for English, MiniLM against the
            packaged 4-bit E5 (``retain bench assistant``). The multilingual
            ``encoder`` still serves every other language and the
            cross-lingual fallback.
    """

    def __init__(
        self,
        articles: Sequence[Article],
        encoder: TextEncoder | None = None,
        *,
        min_cosine: float = 0.55,
        min_term_coverage: float = 0.6,
        min_z: float = 1.6,
        cross_lingual_margin: float = 0.035,
        k1: float = 1.2,
        b: float = 0.75,
        language_encoders: Mapping[str, tuple[TextEncoder, float]] | None = None,
        title_weight: float = 0.5,
    ) -> None:
        self.articles = list(articles)
        self.encoder = encoder
        self.min_cosine = min_cosine
        self.min_term_coverage = min_term_coverage
        self.min_z = min_z
        self.cross_lingual_margin = cross_lingual_margin
        self._k1, self._b = k1, b
        self._docs = [Counter(tokenize(f"{a.title} {a.title} {a.body}")) for a in self.articles]
        lengths = np.array([sum(d.values()) for d in self._docs], dtype=np.float64)
        self._lengths = lengths
        self._mean_length = float(lengths.mean()) if len(lengths) else 1.0
        df: Counter[str] = Counter()
        for doc in self._docs:
            df.update(doc.keys())
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.title_weight = title_weight
        # Same-language similarity reads question titles; across languages,
        # title and body only (see _article_vectors).
        self._vectors: np.ndarray | None = None
        self._across: np.ndarray | None = None
        if encoder is not None and self.articles:
            self._vectors, self._across = self._article_vectors(encoder, self.articles)
        self._own: dict[str, _LanguageVectors] = {}
        for language, (own, bar) in (language_encoders or {}).items():
            rows = np.flatnonzero(self._in_language(language))
            if len(rows):
                chosen = [self.articles[i] for i in rows]
                self._own[language] = _LanguageVectors(
                    own, bar, rows, self._article_vectors(own, chosen)[0]
                )

    def _article_vectors(
        self, encoder: TextEncoder, articles: Sequence[Article]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows whose dot product with a query is its similarity: within the
        article's language, and across languages.

        For an article titled with a question ("Can I cancel my order?", as
        every FAQ entry is), the similarity is ``title_weight`` times the
        cosine with the title alone plus the rest times the cosine with title
        and body: customers ask what the title asks, and question-to-question
        similarity is sharper than question-to-answer. A topic label ("Size
        guide") says too little alone and is only read with its body. Both
        parts are linear in the query vector, so they combine into one matrix.
        Measured with Bitext's questions (``retain bench assistant``, dev file)
        for MiniLM and E5 on English. Across languages a short title is a weak
        match, and its part moved a right cross-language answer under the
        stand-out test (tests/assistant), so that search reads title and body.
        """
        whole = encoder.encode([f"{a.title}. {a.body}" for a in articles], kind="passage")
        weight = np.array([self.title_weight if _asks(a.title) else 0.0 for a in articles])
        if not weight.any():
            return whole, whole
        titles = encoder.encode([a.title for a in articles], kind="passage")
        return np.asarray((1 - weight)[:, None] * whole + weight[:, None] * titles), whole

    def encoder_for(self, language: str | None) -> TextEncoder | None:
        """The encoder that reads questions in ``language`` (its own, or the multilingual one)."""
        if language is not None and language in self._own:
            return self._own[language].encoder
        return self.encoder

    def _in_language(self, language: str) -> np.ndarray:
        """Articles in ``language`` or with none stated."""
        return np.array([a.language in (None, "", language) for a in self.articles])

    def __len__(self) -> int:
        return len(self.articles)

    def bm25(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 scores and the share of the query's distinct terms each article contains.

        The share is 0 where the only terms in common are single Chinese
        characters: one character (到, 发) is in too many words to show that
        an article is about the question.
        """
        terms = set(tokenize(query))
        scores = np.zeros(len(self._docs))
        coverage = np.zeros(len(self._docs))
        if not terms:
            return scores, coverage
        norm = self._k1 * (1 - self._b + self._b * self._lengths / self._mean_length)
        for i, doc in enumerate(self._docs):
            hit = 0
            word = False
            for term in terms:
                tf = doc.get(term, 0)
                if tf:
                    hit += 1
                    word = word or len(term) > 1 or not _is_chinese(term)
                    scores[i] += self._idf[term] * tf * (self._k1 + 1) / (tf + norm[i])
            coverage[i] = hit / len(terms) if word else 0.0
        return scores, coverage

    def search(self, query: str, k: int = 3, *, language: str | None = None) -> list[Passage]:
        """The relevant articles for ``query``, best first; empty when none is relevant.

        With ``language``, articles in that language (or with none stated) come
        first; the others are searched only when none of those is relevant.
        A language with an encoder of its own is searched with it, and the
        multilingual encoder then only looks across languages.
        """
        if not self.articles or not query.strip():
            return []
        same = (
            self._in_language(language)
            if language is not None
            else np.ones(len(self.articles), dtype=bool)
        )
        if language in self._own:
            own = self._own[language]
            cosine = np.zeros(len(self.articles))
            cosine[own.rows] = own.vectors @ own.encoder.encode([query], kind="query")[0]
            bar = np.full(len(self.articles), own.min_cosine)
            preferred = self._search(query, k, same, bar, cosine, own.rows)
            if preferred:
                return preferred
        bar = np.where(same, self.min_cosine, self.min_cosine - self.cross_lingual_margin)
        cosine = np.zeros(len(self.articles))
        pool = None
        if self._vectors is not None and self._across is not None and self.encoder is not None:
            vector = self.encoder.encode([query], kind="query")[0]
            cosine = np.where(same, self._vectors @ vector, self._across @ vector)
            pool = np.arange(len(self.articles))
        if language in self._own:  # its own articles were searched: only the others are left
            return self._search(query, k, ~same, bar, cosine, pool) if not same.all() else []
        if language is not None:
            preferred = self._search(query, k, same, bar, cosine, pool)
            if preferred:
                return preferred
        return self._search(query, k, None, bar, cosine, pool)

    def _search(
        self,
        query: str,
        k: int,
        mask: np.ndarray | None,
        bar: np.ndarray,
        cosine: np.ndarray,
        pool: np.ndarray | None,
    ) -> list[Passage]:
        """Fuse keyword and vector ranks; ``pool``: the articles ``cosine`` covers."""
        bm25, coverage = self.bm25(query)
        fused = np.zeros(len(self.articles))
        for signal in (bm25, cosine):
            order = np.argsort(-signal, kind="stable")
            ranks = np.empty(len(order))
            ranks[order] = np.arange(1, len(order) + 1)
            fused += np.where(signal > 0, 1.0 / (RRF_K + ranks), 0.0)
        similar = cosine >= bar
        if pool is None:
            similar[:] = False
        elif len(pool) >= 8:
            spread = float(cosine[pool].std()) or 1.0
            similar &= (cosine - cosine[pool].mean()) / spread >= self.min_z
        relevant = similar | ((coverage >= self.min_term_coverage) & (bm25 > 0))
        if mask is not None:
            relevant &= mask
        # Most of the question's terms first; among equals, the encoder decides
        # (BM25 would favour the article that repeats a word; see the module doc).
        order = np.lexsort((-cosine, -np.round(coverage, 6)))
        chosen = [int(i) for i in order if relevant[i]][:k]
        return [
            Passage(self.articles[i], float(fused[i]), float(bm25[i]), float(cosine[i]))
            for i in chosen
        ]
