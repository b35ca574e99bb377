"""Order lines: a file with one row per line of an order, summed into orders.

Most shop systems export orders this way (one row per product in the order,
the order's id, customer and time repeated on each), while the canonical
``orders`` table holds one record per order. Loaded as orders directly, every
line after the first would be a conflict; ``retain ingest orders FILE
--lines`` groups them first:

* each line is validated on its own (:data:`ORDER_LINES`), with every reason;
* lines are grouped by ``order_id``. The order's ``amount`` is the sum of the
  line amounts (or of unit ``price`` × ``quantity`` where the file has no line
  amount), unless the file gives the order's total as charged
  (``order_total``: after discounts, with shipping and tax, as Shopify's
  ``Total`` on the order's first line); ``num_items`` is the rounded sum of
  quantities, ``ts`` the earliest line's time, ``status_ts`` the latest
  line's, and ``items`` lists each line's item, quantity and price. A line
  may leave the status, the currency, the total or the refunded amount
  empty, as Shopify leaves them on every line but an order's first: the
  order takes them from its other lines;
* an order is loaded whole or not at all: when one of its lines is invalid, or
  its lines name different customers, statuses or totals, every line of it goes to
  the quarantine, the valid ones saying which line or field stopped the order;
* the orders then go through the same validation, duplicate and conflict
  checks and batched commits as any orders file; a quarantined order points
  at its first line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import duckdb

from retain.data.schemas import ORDER_STATUS_SYNONYMS, ORDER_STATUSES, ORDERS, Field, TableSchema
from retain.data.sources import STAGE_TABLE, Reject, Staged
from retain.data.validation import (
    ValidationRules,
    build_validation_sql,
    quote_ident,
    raw_record_sql,
    with_currency_mix,
)
from retain.errors import InvalidInputError

__all__ = ["ORDER_LINES", "group_order_lines"]

#: One line of an order, as a line-level export has it (not a stored table).
ORDER_LINES = TableSchema(
    name="order lines",
    description="One row per line of an order; summed into orders on ingestion.",
    fields=(
        Field("order_id", "id", required=True),
        Field("user_id", "id", required=True, customer=True),
        Field("ts", "timestamp", required=True),
        Field("item_id", "id"),
        Field("quantity", "number", non_negative=True, description="Units on the line."),
        Field("price", "number", non_negative=True, description="Unit price."),
        Field("amount", "number", non_negative=True, description="The line's total."),
        Field(
            "order_total",
            "number",
            non_negative=True,
            description="The whole order's total as charged, on one or all of its lines "
            "(Shopify's Total); the order's amount instead of the lines' sum.",
        ),
        Field("status", "text", choices=ORDER_STATUSES, synonyms=ORDER_STATUS_SYNONYMS),
        Field(
            "status_ts",
            "timestamp",
            not_before="ts",
            description="When the order took its status.",
        ),
        Field("currency", "currency", description="ISO 4217 code of the line's amounts."),
        Field(
            "refunded_amount",
            "number",
            non_negative=True,
            description="Money given back on the whole order, on one or all of its lines "
            "(Shopify's Refunded Amount).",
        ),
        Field(
            "refunded_ts",
            "timestamp",
            not_before="ts",
            description="When the order's refund took effect.",
        ),
    ),
    key=("order_id",),
    mode="append",
)

_LINES = "_order_lines"
_BAD = "_bad_orders"


def group_order_lines(
    con: duckdb.DuckDBPyConnection,
    staged: Staged,
    renames: Mapping[str, str],
    rules: ValidationRules,
) -> Staged:
    """Replace the staged lines with one staged record per order.

    Args:
        con: The cursor holding :data:`STAGE_TABLE` (the lines).
        staged: What the reader staged.
        renames: Source column -> :data:`ORDER_LINES` field.
        rules: Validation parameters, as for the orders.

    Returns:
        The staged orders, with the rejected lines added to the reader's rejects.

    Raises:
        InvalidInputError: the file has neither a line amount nor a unit price.
    """
    present = set(renames.values())
    if not present & {"amount", "price"}:
        raise InvalidInputError(
            "order lines need the line's total or its unit price to sum an order's amount: "
            "--map COLUMN=amount or --map COLUMN=price"
        )
    # The column the amounts come from is required on every line.
    needed = "amount" if "amount" in present else "price"
    schema = replace(
        ORDER_LINES,
        fields=tuple(
            replace(f, required=True) if f.name == needed else f for f in ORDER_LINES.fields
        ),
    )
    projected = ", ".join(
        f"{quote_ident(src)} AS {quote_ident(dst)}" for src, dst in renames.items()
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _lines_src AS "
        f"SELECT _row, _line, {projected} FROM {STAGE_TABLE}"
    )
    rules = with_currency_mix(con, "_lines_src", schema, present, rules)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_LINES} AS "
            f"{build_validation_sql(schema, present, rules, '_lines_src')}"
        )
        rejects = _rejected_lines(con, schema)
        columns = _stage_orders(con, present)
    finally:
        con.execute("DROP VIEW IF EXISTS _lines_src")
        for name in (_LINES, _BAD):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    rows = int(con.execute(f"SELECT count(*) FROM {STAGE_TABLE}").fetchall()[0][0])
    return Staged(columns, rows, (*staged.rejects, *rejects))


def _rejected_lines(con: duckdb.DuckDBPyConnection, schema: TableSchema) -> list[Reject]:
    """Invalid lines, and every line of an order that cannot be loaded whole."""
    disagree = {
        "user_id": "customers",
        "status": "statuses",
        "order_total": "totals",
        "refunded_amount": "refunded amounts",
    }
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_BAD} AS "
        f"SELECT order_id, 'line ' || min(_line) || ' of this order is invalid' AS why "
        f"FROM {_LINES} WHERE _reason <> '' AND order_id IS NOT NULL GROUP BY order_id "
        f"UNION ALL SELECT order_id, concat_ws(' and ', "
        + ", ".join(_disagreement(name, noun) for name, noun in disagree.items())
        + f") FROM {_LINES} WHERE _reason = '' GROUP BY order_id HAVING "
        + " OR ".join(f"count(DISTINCT {name}) > 1" for name in disagree)
    )
    raw = raw_record_sql(schema)
    found = con.execute(
        f"SELECT l._line, CASE WHEN l._reason <> '' THEN l._reason ELSE "
        f"'order ' || l.order_id || ' is loaded only whole: ' || string_agg(b.why, '; ') END, "
        f"CAST({raw} AS VARCHAR) FROM {_LINES} l LEFT JOIN {_BAD} b USING (order_id) "
        f"WHERE l._reason <> '' OR b.order_id IS NOT NULL "
        f"GROUP BY l._line, l._reason, l.order_id, {raw} ORDER BY l._line"
    ).fetchall()
    return [Reject(int(line), str(reason), str(record)) for line, reason, record in found]


def _disagreement(name: str, noun: str) -> str:
    """SQL saying an order's lines name several values of ``name`` (else NULL)."""
    shown = f"CAST({name} AS VARCHAR)"
    return (
        f"CASE WHEN count(DISTINCT {name}) > 1 THEN 'its lines name ' || "
        f"count(DISTINCT {name}) || ' {noun} (' || "
        f"string_agg(DISTINCT {shown}, ', ' ORDER BY {shown}) || ')' END"
    )


def _stage_orders(con: duckdb.DuckDBPyConnection, present: set[str]) -> tuple[str, ...]:
    """Sum the loadable orders' lines into :data:`STAGE_TABLE`; returns its columns."""
    quantity = "coalesce(quantity, 1)" if "quantity" in present else "1"
    line_amount = "amount" if "amount" in present else f"price * {quantity}"
    unit_price = (
        "price"
        if "price" in present
        else f"CASE WHEN {quantity} > 0 THEN round(amount / {quantity}, 2) END"
    )
    amount = f"round(sum({line_amount}), 2)"
    if "order_total" in present:
        # Lines that leave it empty (Shopify fills only the first) take the order's.
        amount = f"coalesce(any_value(order_total), {amount})"
    columns: dict[str, str] = {
        "order_id": "order_id",
        "user_id": "any_value(user_id)",
        "ts": "strftime(min(ts), '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'",
        "amount": f"CAST({amount} AS VARCHAR)",
    }
    if "quantity" in present:
        columns["num_items"] = f"CAST(CAST(round(sum({quantity})) AS BIGINT) AS VARCHAR)"
    if "status" in present:
        columns["status"] = "any_value(status)"
    if "currency" in present:
        columns["currency"] = "any_value(currency)"
    if "status_ts" in present:
        columns["status_ts"] = "strftime(max(status_ts), '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'"
    if "refunded_amount" in present:
        columns["refunded_amount"] = "CAST(any_value(refunded_amount) AS VARCHAR)"
    if "refunded_ts" in present:
        columns["refunded_ts"] = "strftime(max(refunded_ts), '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'"
    if "item_id" in present:
        columns["items"] = (
            f"CAST(to_json(list(json_object('item_id', item_id, 'quantity', {quantity}, "
            f"'price', {unit_price}) ORDER BY _row) FILTER (WHERE item_id IS NOT NULL)) AS VARCHAR)"
        )
    if not set(columns) <= set(ORDERS.field_names):
        raise AssertionError(f"order columns {sorted(columns)} are not all orders fields")
    select = ", ".join(f"{sql} AS {quote_ident(name)}" for name, sql in columns.items())
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {STAGE_TABLE} AS SELECT "
        f"row_number() OVER (ORDER BY min(_row)) - 1 AS _row, min(_line) AS _line, {select} "
        f"FROM {_LINES} WHERE _reason = '' AND order_id NOT IN (SELECT order_id FROM {_BAD}) "
        f"GROUP BY order_id ORDER BY _row"
    )
    return tuple(columns)
