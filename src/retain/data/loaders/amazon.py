"""Amazon review-derived sequence files (the S3-Rec / RecBole release format).

``Beauty.txt``: one line per user, ``user_id item_id item_id ...`` in time
order. The release keeps the order but drops the dates, so the loader gives
each interaction a synthetic timestamp — day ``k`` after 2014-01-01 for the
``k``-th item of a user — which keeps each user's order and nothing more;
do not read calendar patterns into them. Interactions become ``purchase``
events (they are reviews, which follow purchases).

``*_item2attributes.json``: item id -> attribute ids (brand and category
tokens). With ``Beauty_items.tsv`` beside it (``item_id, asin, attributes``),
the attribute names become the item's text.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

from retain.data.loaders._json import read_json_object
from retain.errors import InvalidInputError

__all__ = ["SEQUENCE_EPOCH", "read_item_attributes", "read_sequences"]

SEQUENCE_EPOCH = datetime(2014, 1, 1)


def read_sequences(path: str | Path) -> pa.Table:
    """Events from a sequence file, with ``_line`` the user's line.

    Raises:
        InvalidInputError: a line is not whitespace-separated ids.
    """
    users: list[str] = []
    items: list[str] = []
    lines: list[int] = []
    positions: list[int] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            tokens = line.split()
            if not tokens:
                continue
            if len(tokens) < 2:
                raise InvalidInputError(
                    f"{path}:{number}: expected 'user_id item_id ...', got {line.strip()!r}"
                )
            user = tokens[0]
            for pos, item in enumerate(tokens[1:]):
                users.append(user)
                items.append(item)
                lines.append(number)
                positions.append(pos)
    ts = [(SEQUENCE_EPOCH + timedelta(days=p)).isoformat() for p in positions]
    return pa.table(
        {
            "event_id": [f"seq-{u}-{p}" for u, p in zip(users, positions, strict=True)],
            "user_id": users,
            "item_id": items,
            "event_type": ["purchase"] * len(users),
            "ts": ts,
            "_line": pa.array(lines, pa.int64()),
        }
    )


def read_item_attributes(path: str | Path, items_tsv: str | Path | None = None) -> pa.Table:
    """Items from ``item2attributes.json``, named from ``*_items.tsv`` if present.

    When ``items_tsv`` is None, a ``<Name>_items.tsv`` beside the JSON file is
    used if it exists. An item's title is its attribute names (brand and
    category path); ``attributes`` keeps the raw ids and the ASIN.
    """
    json_path = Path(path)
    mapping = read_json_object(json_path, "item id -> attribute ids")
    if items_tsv is None:
        guess = json_path.with_name(json_path.name.replace("_item2attributes.json", "_items.tsv"))
        items_tsv = guess if guess.is_file() and guess != json_path else None
    names = _item_names(Path(items_tsv)) if items_tsv else {}
    ids = sorted(mapping, key=lambda k: (len(k), k))
    # Category names also appear deeper in some path; brand names only lead.
    deeper = {p for _, parts in names.values() for p in parts[1:]}
    titles, categories, brands, attrs = [], [], [], []
    for item in ids:
        asin, parts = names.get(item, (None, []))
        titles.append(" | ".join(parts) if parts else None)
        lead = parts[0] if parts else None
        brands.append(lead if lead and lead not in deeper and lead != "Unknown" else None)
        categories.append(parts[-1] if parts else None)
        attrs.append(json.dumps({"attribute_ids": mapping[item], "asin": asin}))
    return pa.table(
        {
            "item_id": ids,
            "title": titles,
            "category": categories,
            "brand": brands,
            "attributes": attrs,
            "_line": pa.array(range(1, len(ids) + 1), pa.int64()),
        }
    )


def _item_names(path: Path) -> dict[str, tuple[str, list[str]]]:
    out: dict[str, tuple[str, list[str]]] = {}
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header[:3] != ["item_id", "asin", "attributes"]:
            raise InvalidInputError(
                f"{path}: expected the header item_id, asin, attributes; got {', '.join(header)}"
            )
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 3:
                out[cols[0]] = (cols[1], [p.strip() for p in cols[2].split("|") if p.strip()])
    return out
