"""Which language a text is in, by script: the rule ingestion uses, in Python."""

from __future__ import annotations

__all__ = ["detect_language"]


def detect_language(text: str) -> str:
    """'zh' when Han characters carry the text, 'en' for Latin script, else 'und'.

    The same rule as ingestion's SQL (``retain.data.validation``): one Han
    character carries about as much as a four-letter English word, so the text
    counts as Chinese when Han characters are at least a quarter as many as
    Latin letters.
    """
    han = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    latin = sum(ch.isascii() and ch.isalpha() for ch in text)
    if han and han * 4 >= latin:
        return "zh"
    return "en" if latin else "und"
