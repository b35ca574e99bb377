"""Labelled review CSVs: ``cat,label,review`` or ``label,review``.

The format of online_shopping_10_cats and similar corpora: ``label`` 1 is
positive, 0 negative; ``cat`` (optional) the product category. Rows become
reviews with ``text``, ``label`` and ``category``; ids are derived by the
ingestion from content and occurrence, so repeated short reviews ("好评")
remain separate reviews and a re-load adds nothing.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from retain.errors import InvalidInputError

__all__ = ["read_review_csv"]

_COLUMNS = {
    "review": "text",
    "text": "text",
    "label": "label",
    "cat": "category",
    "category": "category",
}


def read_review_csv(path: str | Path) -> pa.Table:
    """Reviews from a labelled CSV, as text columns plus ``_line``.

    Values are not checked here — ingestion validates and quarantines — so a
    bad label or an empty review is reported with its line, not dropped.

    Raises:
        InvalidInputError: the file lacks a ``review`` or ``label`` column.
    """
    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in _COLUMNS}, strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"cannot read {path} as a review CSV: {exc}") from exc
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
