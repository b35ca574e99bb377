"""Traditional Chinese read as Simplified, so one word is one word to every model.

Reviews, questions and articles from Taiwan, Hong Kong and overseas shops are
written in Traditional characters (質量, 退貨), while the models here learn
mostly from Simplified text (质量, 退货). Character n-grams, jieba's
dictionary, the keyword search and the aspect lexicons would then see two
different words for one. OpenCC's ``t2s`` conversion (phrase-aware, in C++;
about 300,000 short reviews a second here) folds Traditional text into
Simplified before any of those steps. Simplified text passes through
unchanged, and text without Han characters is not looked at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

__all__ = ["keep_traditional", "to_simplified", "to_traditional"]

_FOLDING = ContextVar("retain_fold_traditional", default=True)

# CJK ideographs, extension A and compatibility ideographs: where Traditional forms live.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def to_simplified(text: str) -> str:
    """``text`` with Traditional Chinese characters and phrases in their Simplified form."""
    if not _FOLDING.get() or not _HAN.search(text):
        return text
    converted: str = _converter().convert(text)
    return converted


def to_traditional(texts: list[str]) -> list[str]:
    """``texts`` as a Taiwan or Hong Kong shopper would write them (OpenCC ``s2t``).

    For the benchmarks, which score the same reviews and questions in both
    scripts; the product only ever reads Traditional as Simplified.
    """
    converter = _converter("s2t")
    return [converter.convert(t) for t in texts]


@lru_cache(maxsize=2)
def _converter(config: str = "t2s") -> Any:
    import opencc  # the dictionaries load once, on the first Chinese text

    return opencc.OpenCC(config)


@contextmanager
def keep_traditional() -> Iterator[None]:
    """Inside this block, :func:`to_simplified` changes nothing.

    Only for measuring what folding is worth (``retain bench sentiment``
    scores Traditional reviews both ways); the product always folds.
    """
    token = _FOLDING.set(False)
    try:
        yield
    finally:
        _FOLDING.reset(token)
