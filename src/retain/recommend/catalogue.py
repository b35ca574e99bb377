"""The item side of a recommender: catalogue rows, item text, variants, showings.

Items are coded by an :class:`ItemIndex` (code 0 is padding); these helpers
turn the canonical ``items`` and ``events`` tables into what the model keeps
per code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from retain.recommend.sequences import INTEREST_EVENTS, ItemIndex
from retain.text.markup import plain_text

__all__ = [
    "catalogue_rows",
    "item_text",
    "item_texts",
    "product_numbers",
    "unclicked_impressions",
]


def item_texts(items: pa.Table) -> list[str]:
    """The text each catalogue item is embedded by, in the catalogue's order."""
    return [item_text(row) for row in catalogue_rows(items).values()]


def item_text(row: Mapping[str, Any]) -> str:
    """Title, brand, category and description, each once, as plain text: a
    description exported as HTML (Shopify's ``Body (HTML)``) loses its markup."""
    parts = [row.get("title"), row.get("brand"), row.get("category"), row.get("description")]
    seen: list[str] = []
    for p in parts:
        text = plain_text(str(p)) if p else ""
        if text and text not in seen:
            seen.append(text)
    return " | ".join(seen)


def catalogue_rows(items: pa.Table | None) -> dict[str, dict[str, Any]]:
    """Each catalogue row by its item id (none for a shop without a catalogue)."""
    if items is None or items.num_rows == 0:
        return {}
    return {str(r["item_id"]): r for r in items.to_pylist()}


def unclicked_impressions(events: pa.Table, index: ItemIndex) -> dict[str, dict[int, int]]:
    """Per user, items shown without any interest event on them afterwards."""
    if "event_type" not in events.column_names:
        return {}
    table = index.lookup()
    shown: dict[str, dict[int, int]] = {}
    rows = events.select(["user_id", "item_id", "event_type", "ts"]).sort_by("ts").to_pylist()
    for row in rows:
        code = table.get(row["item_id"])
        if code is None:
            continue
        user = row["user_id"]
        if row["event_type"] == "impression":
            counts = shown.setdefault(user, {})
            counts[code] = counts.get(code, 0) + 1
        elif row["event_type"] in INTEREST_EVENTS and user in shown:
            shown[user].pop(code, None)
    return {u: d for u, d in shown.items() if d}


def product_numbers(products: Sequence[Any] | np.ndarray) -> np.ndarray | None:
    """Which item codes are variants of one product (``items.product_id``).

    Each code gets a product number, shared by variants (the lowest code of
    the product), or the answer is None when no product has two items, so a
    catalogue without variants pays nothing for the one-variant rules.
    ``products`` holds one entry per code, padding included.
    """
    numbers: dict[Any, int] = {}
    product_of = np.arange(len(products), dtype=np.int64)
    for code, product in enumerate(products):
        if product is not None:
            product_of[code] = numbers.setdefault(product, code)
    shared = len(numbers) < sum(p is not None for p in products)
    return product_of if shared else None
