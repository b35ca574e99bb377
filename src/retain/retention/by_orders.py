"""RFM rankings and moves between segments, computed once per load of new orders.

Ranking every customer into RFM segments reads the whole order history
(about 0.3 s at 135,000 customers on two cores), and the dashboard's
overview, Segments page, segment pages and customer pages, the CLI, the API
and campaigns by segment all ask for the same ranking. Its result depends on
the orders alone, so it is kept per store and orders' *content*: the key is
a fingerprint of every order row (count, last time and an XOR of row hashes,
about 10 ms to read). Ingestion only appends orders and erasure deletes them,
and either changes the fingerprint, so a kept frame is never stale.

Use one :class:`ByOrders` per request: it reads the fingerprint once, and
every frame asked of it comes from the same orders.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from retain.data.schemas import net_amount_sql
from retain.data.store import Store
from retain.features.customer import FeatureTables
from retain.retention.segments import rfm_segments, segment_moves

__all__ = ["ByOrders"]

_KEPT: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
_LOCK = threading.Lock()
#: Frames kept across stores and days; a dashboard needs about four per store.
_KEPT_AT_MOST = 16


def _fingerprint(store: Store) -> tuple[Any, ...]:
    """The store and a fingerprint of every order row: a new status or refund changes it."""
    net = net_amount_sql(store.columns("orders"))
    row = store.query_df(
        "SELECT count(*) AS n, max(ts) AS last, "
        f"bit_xor(hash(order_id, user_id, ts, {net}, status)) AS h FROM orders"
    ).iloc[0]
    return (store.path, int(row.n), str(row["last"]), str(row.h))


@dataclass(frozen=True)
class ByOrders:
    """Frames that depend on one store's orders as they were when this was made."""

    tables: FeatureTables
    version: tuple[Any, ...]

    @classmethod
    def of(cls, store: Store, tables: FeatureTables | None = None) -> ByOrders:
        """Reads the orders' fingerprint (needs an ``orders`` table)."""
        return cls(tables or FeatureTables.from_store(store), _fingerprint(store))

    def rfm(self, day: dt.date) -> pd.DataFrame:
        """:func:`~retain.retention.segments.rfm_segments` as of ``day``, fetched."""
        return self._kept(("rfm", day), lambda: self.tables.fetch(rfm_segments(self.tables, day)))

    def moves(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """:func:`~retain.retention.segments.segment_moves` from ``start`` to ``end``, fetched."""
        return self._kept(
            ("moves", start, end),
            lambda: self.tables.fetch(segment_moves(self.tables, start, end)),
        )

    def _kept(self, what: tuple[Any, ...], compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A copy of the frame kept for these orders and ``what``; computed on first use."""
        key = (*self.version, *what)
        with _LOCK:
            kept = _KEPT.get(key)
            if kept is not None:
                _KEPT.move_to_end(key)
                return kept.copy()
        frame = compute()
        with _LOCK:
            _KEPT[key] = frame
            while len(_KEPT) > _KEPT_AT_MOST:
                _KEPT.popitem(last=False)
        return frame.copy()
