"""Which items each customer bought: purchase events, or the orders' item lists.

Taste segments, the split of retention curves by first category, the
category-breadth churn feature and the recommender need purchases *of
items*. A shop with a clickstream sends them as purchase events. Many shops
start with order exports only (one row per order line, summed by ``retain
ingest orders --lines``), whose ``items`` list the same purchases. One rule
decides, so every capability reads the same purchases: when the store holds
any purchase event, purchase events are the purchases (so a shop with both
is not counted twice); otherwise each line of an order that is a purchase
(not cancelled, returned or refunded) is one.

The item lists are JSON text; both engines read them with their own
``from_json``, which Ibis calls as a builtin, so the same expression runs on
DuckDB and on Spark.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.datatypes as dt_types
import ibis.expr.types as ir

from retain.errors import InvalidInputError
from retain.features.tables import FeatureTables, day_after, is_purchase

__all__ = [
    "categorised_purchases",
    "has_purchase_events",
    "order_item_purchases",
    "purchase_categories",
    "purchased_items",
]

#: The item list's shape, as each engine's ``from_json`` spells it.
_ITEMS_SPEC = {"duckdb": '[{"item_id": "VARCHAR"}]', "pyspark": "array<struct<item_id:string>>"}


#: What ``from_json`` returns for an item list.
_ITEM_LIST = dt_types.Array(dt_types.Struct({"item_id": dt_types.string}))


@ibis.udf.scalar.builtin(name="from_json", signature=((str, str), _ITEM_LIST))  # type: ignore[untyped-decorator]
def _item_list(doc: str, spec: str) -> list[dict[str, str]]:  # type: ignore[empty-body]
    """The engine's own JSON reader: an order's ``items`` as a list of item ids."""


def has_purchase_events(tables: FeatureTables) -> bool:
    """Whether the store holds any purchase event (one short query)."""
    events = tables.events
    if events is None:
        return False
    found = tables.fetch(events.filter(events.event_type == "purchase").select("user_id").limit(1))
    return not found.empty


def purchased_items(tables: FeatureTables, cutoff: dt.date) -> ir.Table | None:
    """``user_id``, ``item_id``, ``ts`` of every item bought by the end of ``cutoff``.

    Purchase events when the store has any, else the lines of orders that
    are purchases; None when there are neither events nor orders' items to read.
    """
    end = day_after(cutoff)
    events = tables.events
    if events is not None and has_purchase_events(tables):
        bought = events.filter(
            events.event_type == "purchase",
            events.ts < end,
            events.user_id.notnull(),
            events.item_id.notnull(),
        )
        return bought.select("user_id", "item_id", "ts")
    lines = order_item_purchases(tables, cutoff)
    return None if lines is None else lines.filter(lines.ts < end)


def categorised_purchases(tables: FeatureTables, cutoff: dt.date, purpose: str) -> ir.Table:
    """:func:`purchased_items` of catalogued items with a category, with that ``category``.

    Raises:
        InvalidInputError: there is nothing to read purchases or categories
            from; the message starts with ``purpose`` (what needs them).
    """
    found = purchase_categories(tables, cutoff)
    if found is None:
        raise InvalidInputError(
            f"{purpose} needs purchases of items (purchase events, or orders that list their "
            "items) and a catalogue with categories"
        )
    return found


def purchase_categories(tables: FeatureTables, cutoff: dt.date) -> ir.Table | None:
    """:func:`categorised_purchases`, or None when there is nothing to read them from."""
    bought = purchased_items(tables, cutoff)
    items = tables.items
    if bought is None or items is None:
        return None
    joined = bought.join(items, bought.item_id == items.item_id).filter(
        items.category.notnull() & (items.category != "")
    )
    return joined.select(bought.user_id, bought.item_id, bought.ts, items.category)


def order_item_purchases(tables: FeatureTables, as_of: dt.date | None = None) -> ir.Table | None:
    """``user_id``, ``item_id``, ``ts``: one row per item line of each order that is a
    purchase (as it stood at the end of ``as_of``, when given; see
    :func:`~retain.features.tables.is_purchase`).

    None when the engine has no ``from_json`` this module knows.
    """
    spec = _ITEMS_SPEC.get(tables.engine)
    if spec is None:
        return None
    orders = tables.orders
    kept = orders.filter(
        orders["items"].notnull(),
        orders.user_id.notnull(),
        is_purchase(orders, as_of),
    )
    lines = kept.select(kept.user_id, kept.ts, line=_item_list(kept["items"], spec).unnest())
    lines = lines.select(lines.user_id, item_id=lines.line["item_id"], ts=lines.ts)
    return lines.filter(lines.item_id.notnull())
