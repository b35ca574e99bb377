"""A shop's FAQ (question → answer pairs) as knowledge-base articles.

Most shops already have their help content as a FAQ: a JSON export
(``{"questions": [{"question": ..., "answer": ...}, ...]}``, the layout of
the public "Ecommerce FAQ Chatbot" data set, or a plain list of such
objects) or a spreadsheet with ``question`` and ``answer`` columns. Each pair
becomes one ``kb_articles`` row: the question is the title (what customers
ask, which is what the assistant's retrieval matches best), the answer the
body, tagged ``faq``.

``article_id`` is derived from the question's text (``faq-`` and 12 hex
digits of its SHA-1, after folding case and spaces), so re-importing an
edited FAQ updates each answer in place instead of adding copies, and the
id does not change when entries are reordered. Loaders only parse: an empty
answer or question reaches ingestion, which quarantines it with its entry
number (``_line``: the entry's position, or the CSV line).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from retain.data.sources import codec_name
from retain.errors import InvalidInputError

__all__ = ["faq_article_id", "read_faq"]

_LIST_KEYS = ("questions", "faqs", "faq", "items")


def faq_article_id(question: str) -> str:
    """The stable article id of a FAQ question (case and spacing do not matter)."""
    folded = " ".join(question.casefold().split())
    return "faq-" + hashlib.sha1(folded.encode("utf-8")).hexdigest()[:12]


def read_faq(path: str | Path, encoding: str | None = None) -> pa.Table:
    """FAQ pairs from JSON or CSV as ``kb_articles`` columns plus ``_line``; ``encoding``
    is the file's codec (``gb18030`` for a Chinese Excel export), UTF-8 when unset.

    Raises:
        InvalidInputError: the file is neither layout, an entry is not a
            question/answer object (with its position), or a question occurs
            twice (with both positions: one of the two answers would be lost).
    """
    source = Path(path)
    if not source.is_file():
        raise InvalidInputError(f"no such file: {source}")
    codec = codec_name(encoding) if encoding is not None else "utf-8"
    is_json = source.suffix.lower() == ".json"
    pairs = _json_pairs(source, codec) if is_json else _csv_pairs(source, codec)
    seen: dict[str, int] = {}
    for question, _, line in pairs:
        if question is None or not question.strip():
            continue  # ingestion quarantines it with its line
        key = faq_article_id(question)
        if key in seen:
            raise InvalidInputError(
                f"{source}: the question {question.strip()!r} occurs at entry {seen[key]} "
                f"and at entry {line}; keep one (its answer would replace the other's)"
            )
        seen[key] = line
    return pa.table(
        {
            "article_id": pa.array(
                [faq_article_id(q) if q and q.strip() else None for q, _, _ in pairs], pa.string()
            ),
            "title": pa.array([q for q, _, _ in pairs], pa.string()),
            "body": pa.array([a for _, a, _ in pairs], pa.string()),
            "tags": pa.array([json.dumps(["faq"])] * len(pairs), pa.string()),
            "_line": pa.array([line for _, _, line in pairs], pa.int64()),
        }
    )


def _json_pairs(source: Path, codec: str) -> list[tuple[str | None, str | None, int]]:
    try:
        value: Any = json.loads(source.read_text(encoding=codec))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        shown = "UTF-8" if codec == "utf-8" else codec
        raise InvalidInputError(f"{source} is not valid {shown} JSON: {exc}") from exc
    if isinstance(value, dict):
        key = next((k for k in _LIST_KEYS if isinstance(value.get(k), list)), None)
        if key is None:
            raise InvalidInputError(
                f"{source}: expected a list of question/answer objects, or an object with "
                f"one under {' / '.join(repr(k) for k in _LIST_KEYS)}; got keys "
                f"{', '.join(map(repr, value)) or 'none'}"
            )
        value = value[key]
    if not isinstance(value, list):
        raise InvalidInputError(f"{source}: expected a list of question/answer objects")
    pairs = []
    for position, entry in enumerate(value, start=1):
        if not isinstance(entry, dict) or not {"question", "answer"} <= set(entry):
            raise InvalidInputError(
                f"{source}: entry {position} is not an object with 'question' and 'answer'"
            )
        question, answer = entry["question"], entry["answer"]
        if not all(v is None or isinstance(v, str) for v in (question, answer)):
            raise InvalidInputError(
                f"{source}: entry {position}: 'question' and 'answer' must be text"
            )
        pairs.append((question, answer, position))
    return pairs


def _csv_pairs(source: Path, codec: str) -> list[tuple[str | None, str | None, int]]:
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(encoding=codec),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={"question": pa.string(), "answer": pa.string()},
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {source} as a FAQ CSV: {exc}") from exc
    names = [n.strip().lstrip("\ufeff").lower() for n in table.column_names]
    if not {"question", "answer"} <= set(names):
        raise InvalidInputError(
            f"{source}: expected columns question and answer; got {', '.join(names)}"
        )
    table = table.rename_columns(names)
    questions = table.column("question").to_pylist()
    answers = table.column("answer").to_pylist()
    # Line numbers assume one line per row, as spreadsheets write short answers.
    rows = zip(questions, answers, strict=True)
    return [(q, a, line) for line, (q, a) in enumerate(rows, start=2)]
