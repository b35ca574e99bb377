"""The canonical tables features read, on the store or on another Ibis backend.

Kept apart from the feature definitions so that every module that reads the
tables (customer features, purchases of items, retention views) builds on
one mechanism without importing the others: :class:`FeatureTables`, the
cutoff boundary :func:`day_after`, what counts as a purchase,
:func:`is_purchase`, and what an order was worth after partial refunds,
:func:`net_orders`, as of any day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
from ibis.backends import BaseBackend

from retain.data.schemas import NOT_PURCHASES, SCHEMAS, Revision
from retain.data.store import Store
from retain.errors import InvalidInputError

__all__ = [
    "LEARNED_OUTPUTS",
    "REVIEW_VERDICTS",
    "FeatureTables",
    "canonical_table",
    "day_after",
    "held_at",
    "is_purchase",
    "net_orders",
    "with_new_fields",
]

_IBIS_TYPES = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "DOUBLE": "float64",
    "BIGINT": "int64",
    "BOOLEAN": "boolean",
}

Runner = Callable[[ir.Expr], pa.Table]


def with_new_fields(table: ir.Table, name: str) -> ir.Table:
    """``table`` with the canonical fields of ``name`` it lacks, empty: a table an
    older Retain wrote reads as if written now."""
    missing = {
        f.name: ibis.null(_IBIS_TYPES[f.sql_type])
        for f in SCHEMAS[name].fields
        if f.name not in table.columns
    }
    return table.mutate(**missing) if missing else table


def canonical_table(name: str, stored: Collection[str] | None = None) -> ir.Table:
    """An unbound Ibis table with the canonical schema of ``name``.

    ``stored`` names the columns the stored table has, when it may be one an
    older Retain wrote, opened read-only and so not yet given the fields
    added since: those read as empty.
    """
    types = {f.name: _IBIS_TYPES[f.sql_type] for f in SCHEMAS[name].fields}
    if stored is None:
        return ibis.table(types, name=name)
    table = ibis.table({n: t for n, t in types.items() if n in stored}, name=name)
    return with_new_fields(table, name).select(*types)


@dataclass(frozen=True)
class FeatureTables:
    """The canonical tables features read, and how to run an expression over them.

    Only ``orders`` is required; a missing source yields zeros (or NULL for
    averages) for its features.

    :meth:`from_store` reads the embedded store: expressions are compiled to
    DuckDB SQL and run on the store's own connection (no second engine).
    :meth:`from_backend` runs the same expressions on another Ibis backend;
    the test suite checks that PySpark gives the same features as DuckDB.
    """

    orders: ir.Table
    runner: Runner
    events: ir.Table | None = None
    items: ir.Table | None = None
    reviews: ir.Table | None = None
    conversations: ir.Table | None = None
    users: ir.Table | None = None
    #: The sentiment model's verdicts (``review_scores``), when it has run.
    review_scores: ir.Table | None = None
    #: Versions of edited reviews that were replaced (``review_versions``),
    #: read by :func:`retain.features.customer.marked_reviews` as of a day.
    review_versions: ir.Table | None = None
    #: Orders' replaced refunded amounts (``order_refund_versions``), read by
    #: :func:`net_orders` as of a day.
    order_refund_versions: ir.Table | None = None
    #: The Ibis backend expressions run on (``duckdb`` for the store), for the
    #: rare expression that must be written differently for one engine.
    engine: str = "duckdb"
    #: Stored learned segments (:data:`LEARNED_OUTPUTS`) that exist, by table
    #: name: the cohort views can be split by them.
    learned: Mapping[str, ir.Table] = field(default_factory=dict)

    def fetch(self, expr: ir.Table) -> pd.DataFrame:
        """Run ``expr`` and return the result as a pandas frame."""
        frame: pd.DataFrame = self.runner(expr).to_pandas()
        return frame

    @classmethod
    def from_store(cls, store: Store) -> FeatureTables:
        def run(expr: ir.Expr) -> pa.Table:
            return store.query_arrow(str(ibis.to_sql(expr, dialect="duckdb")))

        stored = store.table_columns()  # one query: dashboard pages build these per request
        present = set(stored)
        tables = {name: canonical_table(name, stored.get(name)) for name in _SOURCES}
        if REVIEW_VERDICTS in present:
            tables[REVIEW_VERDICTS] = ibis.table(_VERDICT_SCHEMA, name=REVIEW_VERDICTS)
        # A history nothing was ever replaced in is left out, so a shop without
        # edits or refunds pays no join for them (the cohort pages read spend often).
        histories = [name for name in _HISTORIES if name in present]
        if histories:
            held = " UNION ALL ".join(
                f"SELECT '{name}' FROM (SELECT 1 FROM {name} LIMIT 1)" for name in histories
            )
            for (name,) in store.execute(held).fetchall():
                tables[name] = ibis.table(_HISTORIES[name], name=name)
        learned = {
            name: ibis.table(schema, name=name)
            for name, schema in LEARNED_OUTPUTS.items()
            if name in present
        }
        return cls(runner=run, learned=learned, **tables)

    @classmethod
    def from_backend(cls, backend: BaseBackend) -> FeatureTables:
        """The canonical tables of any Ibis backend, e.g. PySpark when a shop outgrows DuckDB.

        The backend must hold tables named like the store's (at least
        ``orders``); expressions run there, where the data live.
        """
        present = set(backend.list_tables())
        if "orders" not in present:
            raise InvalidInputError(
                f"the backend has no orders table; it has: {', '.join(sorted(present)) or 'none'}"
            )
        names = (*_SOURCES, REVIEW_VERDICTS, *_HISTORIES)
        tables = {name: backend.table(name) for name in names if name in present}
        for name in set(tables) & set(_SOURCES):
            tables[name] = with_new_fields(tables[name], name)
        learned = {name: backend.table(name) for name in LEARNED_OUTPUTS if name in present}
        return cls(runner=backend.to_pyarrow, engine=backend.name, learned=learned, **tables)


_SOURCES = ("orders", "events", "items", "reviews", "conversations", "users")
#: The output table of ``retain train sentiment`` that features read, and the columns read.
REVIEW_VERDICTS = "review_scores"
_VERDICT_SCHEMA = {"review_id": "string", "label": "int64"}


def _revision_of(name: str) -> Revision:
    revision = SCHEMAS[name].revision
    if revision is None:  # pragma: no cover - the schema defines one
        raise RuntimeError(f"the {name} schema names no revision")
    return revision


def _history_schema(name: str) -> dict[str, str]:
    """The columns of table ``name``'s history of replaced versions, as Ibis types."""
    kept = {f.name: _IBIS_TYPES[f.sql_type] for f in SCHEMAS[name].history_fields()}
    spans = {"valid_from": "timestamp", "valid_to": "timestamp"}
    verdict = {"verdict": "int64"} if _revision_of(name).verdicts is not None else {}
    return {**kept, **spans, **verdict}


#: Where ingestion keeps the replaced versions of edited reviews
#: (:class:`~retain.data.schemas.Revision`), and the fields an edit rewrites.
_REVIEW_REVISION = _revision_of("reviews")
REVIEW_VERSIONS = _REVIEW_REVISION.history
REVIEW_REVISED = _REVIEW_REVISION.fields
#: Where it keeps an order's earlier refunded amounts (a second partial refund).
REFUND_VERSIONS = _revision_of("orders").history
_HISTORIES = {
    REVIEW_VERSIONS: _history_schema("reviews"),
    REFUND_VERSIONS: _history_schema("orders"),
}
#: The tables ``retain train segments`` writes (see
#: :mod:`retain.retention.cluster_training`), with the columns read from them.
_MEMBERS_SCHEMA = {"user_id": "string", "cluster": "int64"}
_DESCRIBED_SCHEMA = {"cluster": "int64", "description": "string"}
LEARNED_OUTPUTS = {
    "customer_clusters": _MEMBERS_SCHEMA,
    "segment_clusters": _DESCRIBED_SCHEMA,
    "customer_tastes": _MEMBERS_SCHEMA,
    "taste_clusters": _DESCRIBED_SCHEMA,
}


def day_after(cutoff: dt.date) -> ir.TimestampScalar:
    """The first moment after ``cutoff``: records with ``ts`` before it are on or before it."""
    moment = dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time())
    return ibis.timestamp(moment)


def is_purchase(orders: ir.Table, as_of: dt.date | None = None) -> ir.BooleanValue:
    """True for an order that is a purchase: no status, or one not in
    :data:`NOT_PURCHASES` (the Ibis twin of :func:`retain.data.schemas.purchase_sql`).

    ``as_of`` reads the order as it stood at the end of that day: one that was
    cancelled, returned or refunded later (``status_ts`` after the day) was
    still a purchase then, so a return after a cutoff cannot change a feature
    computed at it. A status with no ``status_ts`` holds from the order's time.
    """
    bought = orders.status.isnull() | ~orders.status.isin(NOT_PURCHASES)
    if as_of is None:
        return bought
    return bought | (orders.status_ts >= day_after(as_of)).fill_null(False)


def held_at(versions: ir.Table, moment: ir.TimestampScalar) -> ir.Table:
    """The rows of a history of replaced versions (:class:`~retain.data.schemas.Revision`)
    that were the current ones just before ``moment``."""
    return versions.filter(
        versions.valid_to >= moment, versions.valid_from.isnull() | (versions.valid_from < moment)
    )


def net_orders(tables: FeatureTables, as_of: dt.date) -> ir.Table:
    """``tables.orders`` with ``amount`` net of what was refunded by the end of ``as_of``.

    A partial refund (``refunded_amount``) counts from ``refunded_ts``, or
    from the order's own time when the source gave no date on the first
    load. One that took effect after the day is replaced by the refunded
    amount that held then (``order_refund_versions``; none before the first),
    so a refund after a cutoff cannot change spend read at it.
    """
    orders, moment = tables.orders, day_after(as_of)
    columns = orders.columns
    versions = tables.order_refund_versions
    if versions is None:
        orders = orders.mutate(_held=ibis.null("float64"))
    else:
        then = held_at(versions, moment)
        held = then.select(_held_id=then.order_id, _held=then.refunded_amount)
        orders = orders.left_join(held, orders.order_id == held._held_id)
    since = orders.refunded_ts.fill_null(orders.ts)
    refunded = ibis.cases((since < moment, orders.refunded_amount), else_=orders._held)
    return orders.mutate(amount=orders.amount - refunded.fill_null(0.0)).select(*columns)
