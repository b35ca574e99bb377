"""What each customer buys: the share of their purchases in each category, as of a cutoff.

Behaviour features say *how* a customer shops (often, recently, big
baskets); a growth team also needs to know *what* they shop for, to send the
gardening offer to gardeners. Taste is read from the items customers bought
(purchase events, or the orders' item lists where a shop has no purchase
events: :mod:`retain.features.purchases`) joined to the catalogue's
categories, up to the cutoff (nothing after it counts). The
shop's most bought categories each get a column ``taste:<category>``, the
rest share ``taste:(other categories)``, so a shop with hundreds of leaf categories still
gives a handful of columns a marketer can read.
"""

from __future__ import annotations

import datetime as dt

import ibis.expr.types as ir
import pandas as pd

from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables, purchase_occasions
from retain.features.purchases import categorised_purchases

__all__ = ["OTHER", "TASTE_PREFIX", "category_purchases", "taste_features"]

#: Column prefix of a category share; the rest of the name is the category.
TASTE_PREFIX = "taste:"
#: Categories beyond the shop's most bought share this column.
OTHER = f"{TASTE_PREFIX}(other categories)"


def category_purchases(tables: FeatureTables, cutoff: dt.date) -> ir.Table:
    """``user_id``, ``category``, ``purchases``: items bought per customer and category.

    Only customers with a purchase by the cutoff in ``orders`` (cancelled and
    returned orders left out, as everywhere) count, so a taste segment holds
    the same customers its member list, the RFM segments and the behaviour
    segments draw from; a purchase event with no order behind it (a
    tracking-only sale) does not make a customer.

    Raises:
        InvalidInputError: the store has no events or no catalogue to read taste from.
    """
    bought = categorised_purchases(tables, cutoff, "taste")
    customers = purchase_occasions(tables, cutoff).select("user_id").distinct()
    joined = bought.semi_join(customers, "user_id")
    return joined.group_by([joined.user_id, joined.category]).aggregate(purchases=joined.count())


def taste_features(tables: FeatureTables, cutoff: dt.date, *, top: int = 12) -> pd.DataFrame:
    """One row per customer with a categorised purchase: ``user_id`` and a share per category.

    Args:
        top: Categories with a column of their own, most bought in the shop
            first; a shop with more also gets :data:`OTHER`.

    Raises:
        InvalidInputError: no purchase of a catalogued item by the cutoff.
    """
    long = tables.fetch(category_purchases(tables, cutoff))
    if long.empty:
        raise InvalidInputError(
            f"no purchases of catalogued items by {cutoff}: taste segments need them (ingest "
            "events with event_type 'purchase', or orders that list their items, e.g. with "
            "`retain ingest orders FILE --lines`, and items with a category)"
        )
    totals = long.groupby("category").purchases.sum().sort_values(ascending=False, kind="stable")
    kept = set(totals.index[:top])
    column = long.category.map(lambda c: f"{TASTE_PREFIX}{c}" if c in kept else OTHER)
    wide = long.assign(column=column).pivot_table(
        index="user_id", columns="column", values="purchases", aggfunc="sum", fill_value=0
    )
    order = [f"{TASTE_PREFIX}{c}" for c in totals.index[:top]]
    wide = wide.reindex(columns=order + ([OTHER] if OTHER in wide.columns else []), fill_value=0)
    shares = wide.div(wide.sum(axis=1), axis=0).astype(float)
    shares.columns.name = None
    return shares.reset_index()
