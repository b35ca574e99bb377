"""Aspect-term sentiment examples in the SemEval-2014 Task 4 ``.xml.seg`` layout.

The widely used preprocessed form of the SemEval-2014 laptop and restaurant
data: three lines per example — the sentence with the aspect term replaced
by ``$T$``, the term, and its polarity (-1 negative, 0 neutral, 1 positive).
Only benchmarks read it (``retain bench aspects``); nothing here reaches the
store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retain.errors import InvalidInputError

__all__ = ["AspectExample", "read_absa_seg"]

_MARK = "$T$"


@dataclass(frozen=True)
class AspectExample:
    """One aspect term in its sentence, with the polarity a person gave it."""

    sentence: str  # with the term in place
    term: str
    start: int  # where the term begins in ``sentence``
    polarity: int  # -1, 0 or 1
    line: int  # the example's first line in the file


def read_absa_seg(path: str | Path) -> list[AspectExample]:
    """Every example in the file, in order.

    Raises:
        InvalidInputError: the file is not UTF-8 text, or an example lacks
            its ``$T$`` mark, its term or a polarity of -1, 0 or 1 (the line
            is named).
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path} as UTF-8 text: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 3:
        raise InvalidInputError(
            f"{path}: expected three lines per example (sentence with $T$, term, "
            f"polarity); {len(lines)} lines is not a multiple of three"
        )
    out = []
    for at in range(0, len(lines), 3):
        marked, term, polarity = lines[at], lines[at + 1].strip(), lines[at + 2].strip()
        where = f"{path}, line {at + 1}"
        if marked.count(_MARK) != 1:
            raise InvalidInputError(f"{where}: the sentence must hold {_MARK} once: {marked!r}")
        if not term:
            raise InvalidInputError(f"{where}: the term on line {at + 2} is empty")
        if polarity not in ("-1", "0", "1"):
            raise InvalidInputError(
                f"{where}: the polarity on line {at + 3} must be -1, 0 or 1, got {polarity!r}"
            )
        start = marked.index(_MARK)
        sentence = marked[:start] + term + marked[start + len(_MARK) :]
        out.append(
            AspectExample(sentence.strip(), term, start - _lead(marked), int(polarity), at + 1)
        )
    if not out:
        raise InvalidInputError(f"{path}: no example")
    return out


def _lead(text: str) -> int:
    """How many characters ``str.strip`` removes from the left of ``text``."""
    return len(text) - len(text.lstrip())
