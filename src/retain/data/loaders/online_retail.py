"""The UCI Online Retail invoice-line log, as orders and as the catalogue.

One input row is one invoice line (``InvoiceNo, StockCode, Description,
Quantity, InvoiceDate, UnitPrice, CustomerID, Country``). Lines are grouped
into one order per invoice (:func:`read_online_retail`):

* ``amount`` is the absolute value of the invoice's net ``Quantity *
  UnitPrice`` (every line, postage included: it is what the customer paid)
  and ``num_items`` the absolute net quantity of its goods, because Retain
  never stores negative amounts;
* an invoice whose number starts with ``C`` is a cancellation and gets status
  ``cancelled``; any other invoice whose net value is negative (stock
  adjustments, returns booked as negative lines) gets ``returned``; so
  returns stay visible as statuses instead of being subtracted from spend;
* a credit note that reverses one whole earlier invoice of the same
  customer makes that invoice ``refunded`` from the credit note's time
  (:func:`_refunds_as_statuses`): 144 invoices worth 359,722 of the
  8.9 million sold to known customers; one that gives back part of an
  earlier invoice's lines becomes that invoice's ``refunded_amount``;
* lines without a ``CustomerID`` form orders without a ``user_id``, which
  ingestion quarantines with that reason (they cannot belong to a customer);
* ``items`` lists each line of goods with its stock code, quantity and unit
  price. The dataset's documentation gives a product a five-digit stock
  code; the other codes (``POST`` postage, ``DOT`` dotcom postage, ``C2``
  carriage, ``M`` manual, ``D`` discount, bank charges, fees, samples,
  vouchers) are charges, not goods, and are left out of ``items``: postage
  is on a quarter of the invoices, so a recommender that counted it would
  recommend postage. Stock codes are upper-cased: the file writes some
  products both ways (85123A and 85123a, the same heart holder).

:func:`read_online_retail_items` makes the catalogue from the same file: one
item per product stock code, titled with its most frequent description;
:func:`read_online_retail_customers` the customers, with their country.

``_line`` is the file line of the invoice's (or the item's) first row, so a
quarantined record points back to where it starts.
"""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from retain.errors import InvalidInputError

__all__ = ["read_online_retail", "read_online_retail_customers", "read_online_retail_items"]

_COLUMNS = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
#: A product's stock code: five digits, sometimes a letter for the variant (85123A).
_PRODUCT_CODE = r"^\d{5}"


def _read_lines(path: str | Path, *extra: str) -> pd.DataFrame:
    """The file's lines with ``line`` (header = 1) and ``goods`` (a product, not a charge)."""
    source = Path(path)
    table = pacsv.read_csv(
        source,
        convert_options=pacsv.ConvertOptions(
            column_types={"InvoiceNo": pa.string(), "StockCode": pa.string(),
                          "CustomerID": pa.string(), "InvoiceDate": pa.string(),
                          "Description": pa.string()},
        ),
    )  # fmt: skip
    missing = [c for c in (*_COLUMNS, *extra) if c not in table.column_names]
    if missing:
        raise InvalidInputError(
            f"{source}: not an Online Retail file; missing columns {missing} "
            f"(it has {table.column_names})"
        )
    lines: pd.DataFrame = table.select([*_COLUMNS, *extra]).to_pandas()
    lines["line"] = range(2, len(lines) + 2)  # line 1 is the header
    # 85123a and 85123A are one product (the lower-case codes are the web
    # shop's, sold at its prices); two catalogue entries would split its sales.
    lines["StockCode"] = lines.StockCode.str.upper()
    lines["goods"] = lines.StockCode.str.match(_PRODUCT_CODE)
    return lines


def read_online_retail(path: str | Path) -> pa.Table:
    """Orders (one per invoice) from an Online Retail CSV (``.gz`` allowed)."""
    lines = _read_lines(path)
    lines["value"] = lines.Quantity * lines.UnitPrice
    lines["units"] = lines.Quantity.where(lines.goods, 0)
    lines["item"] = pd.Series(
        [
            {"item_id": code, "quantity": int(qty), "price": float(price)} if goods else None
            for code, qty, price, goods in zip(
                lines.StockCode, lines.Quantity, lines.UnitPrice, lines.goods, strict=True
            )
        ],
        index=lines.index,
        dtype=object,
    )
    lines["pair"] = pd.Series(
        list(zip(lines.StockCode, lines.Quantity.astype(int), strict=True)),
        index=lines.index,
        dtype=object,
    )
    grouped = lines.groupby("InvoiceNo", sort=False)
    orders = pd.DataFrame(
        {
            "user_id": grouped.CustomerID.first(),
            "ts": grouped.InvoiceDate.min(),
            "net": grouped.value.sum(),
            "units": grouped.units.sum(),
            "_line": grouped.line.min(),
            "items": grouped.item.agg(
                lambda items: json.dumps([i for i in items if i is not None])
            ),
            "lines": grouped.pair.agg(_sorted_pairs),
        }
    ).reset_index()
    cancelled = orders.InvoiceNo.str.startswith("C")
    orders["status"] = "completed"
    orders.loc[orders.net < 0, "status"] = "returned"
    orders.loc[cancelled, "status"] = "cancelled"
    orders = _refunds_as_statuses(orders)
    return pa.table(
        {
            "order_id": pa.array("retail-" + orders.InvoiceNo, pa.string()),
            "user_id": pa.array(orders.user_id, pa.string()),
            "ts": pa.array(orders.ts, pa.string()),
            "amount": pa.array(orders.net.abs().round(2).astype(str), pa.string()),
            "num_items": pa.array(orders.units.abs().astype(str), pa.string()),
            "status": pa.array(orders.status, pa.string()),
            "status_ts": pa.array(orders.status_ts, pa.string()),
            "refunded_amount": pa.array(
                [None if v is None else f"{v:.2f}" for v in orders.refunded_amount], pa.string()
            ),
            "refunded_ts": pa.array(orders.refunded_ts, pa.string()),
            "items": pa.array(orders["items"], pa.string()),
            "_line": pa.array(orders._line, pa.int64()),
        }
    )


def _sorted_pairs(pairs: pd.Series) -> tuple[tuple[str, int], ...]:
    """An invoice's (stock code, quantity) lines in one comparable order."""
    return tuple(sorted(pairs))


def _refunds_as_statuses(orders: pd.DataFrame) -> pd.DataFrame:
    """A credit note that reverses an earlier invoice of its customer, whole or in
    part, becomes that invoice's refund.

    The file books a refund as a ``C`` invoice of negative lines, not as a
    status of the invoice it reverses, so the reversed invoice would still
    count as a purchase: customer 16446's 168,469.60 order, credited twelve
    minutes later, made them the shop's most valuable customer at risk.

    * When a credit note's lines are exactly an earlier invoice's of the
      same customer (same stock codes, same quantities negated), the latest
      such invoice not yet reversed becomes ``refunded`` from the credit
      note's time (``status_ts``).
    * Otherwise, when the latest earlier invoice of the customer that still
      holds every credited stock code in at least the credited quantity, and
      at least the credited value, is found, the credit note is a partial
      refund of it: the invoice stays a purchase and its ``refunded_amount``
      grows by the credit note's value from the credit note's time
      (``refunded_ts``). What it holds shrinks by what was credited, so two
      credit notes cannot give back one line twice.

    Either way the credit note is no order of its own. One that matches no
    invoice (a discount, a manual adjustment, goods bought before the file
    begins) stays a ``cancelled`` order of its own.
    """
    orders = orders.assign(
        status_ts=pd.Series([None] * len(orders), dtype=object),
        refunded_amount=pd.Series([None] * len(orders), dtype=object),
        refunded_ts=pd.Series([None] * len(orders), dtype=object),
    )
    user = orders.user_id.fillna("").str.strip().tolist()
    number, ts, status, lines, net = (
        orders.InvoiceNo.tolist(),
        orders.ts.tolist(),
        orders.status.tolist(),
        orders.lines.tolist(),
        orders.net.tolist(),
    )
    by_time = sorted(range(len(orders)), key=ts.__getitem__)
    waiting: dict[tuple[str, tuple[tuple[str, int], ...]], list[int]] = {}
    held: dict[str, list[_Held]] = {}  # per customer, their sales in time order
    reversed_by: dict[int, int] = {}
    credited: list[int] = []
    for i in by_time:  # in time order: an invoice waits until a credit note reverses it
        if not user[i]:
            continue
        if not number[i].startswith("C"):
            if status[i] == "completed":
                waiting.setdefault((user[i], lines[i]), []).append(i)
                held.setdefault(user[i], []).append(_Held.of(i, lines[i], net[i]))
            continue
        negated = tuple(sorted((code, -quantity) for code, quantity in lines[i]))
        matches = waiting.get((user[i], negated))
        if matches:
            reversed_by[matches.pop()] = i  # the latest invoice not yet reversed
            continue
        sale = _part_reversed(held.get(user[i], []), negated, -net[i], reversed_by)
        if sale is not None:
            given = round(-net[i] + (orders.at[sale, "refunded_amount"] or 0.0), 2)
            given = min(given, round(net[sale], 2))  # cents rounded apart: not above the amount
            orders.at[sale, "refunded_amount"] = given
            orders.at[sale, "refunded_ts"] = ts[i]
            credited.append(i)
    for sale, note in reversed_by.items():
        orders.at[sale, "status"] = "refunded"
        orders.at[sale, "status_ts"] = ts[note]
    gone = [*reversed_by.values(), *credited]
    return orders.drop(index=gone).reset_index(drop=True)


@dataclass
class _Held:
    """What is left to give back of one sale: units per stock code, and value."""

    row: int
    units: dict[str, int]
    value: float

    @classmethod
    def of(cls, row: int, lines: tuple[tuple[str, int], ...], value: float) -> _Held:
        return cls(row, _units(lines), value)


def _units(lines: tuple[tuple[str, int], ...]) -> dict[str, int]:
    """Units per stock code of an invoice's (stock code, quantity) lines."""
    units: dict[str, int] = {}
    for code, quantity in lines:
        units[code] = units.get(code, 0) + quantity
    return units


def _part_reversed(
    sales: list[_Held],
    credit: tuple[tuple[str, int], ...],
    value: float,
    reversed_whole: Container[int],
) -> int | None:
    """The row of the latest sale in ``sales`` that still holds every line of
    ``credit`` and at least ``value``, with what it holds reduced; else None."""
    wanted = _units(credit)
    if value <= 0 or any(quantity <= 0 for quantity in wanted.values()):
        return None
    for sale in reversed(sales):
        if sale.row in reversed_whole or sale.value + 1e-9 < value:
            continue
        if all(sale.units.get(code, 0) >= quantity for code, quantity in wanted.items()):
            for code, quantity in wanted.items():
                sale.units[code] -= quantity
            sale.value -= value
            return sale.row
    return None


def _most_frequent(lines: pd.DataFrame, key: str, column: str) -> pd.Series:
    """Per ``key``, the ``column`` value on most of its lines; on a tie the one seen first.

    The file repeats per line what belongs to a product or a customer (a
    description, a country), and a few lines disagree.
    """
    counts = lines.groupby([key, column], sort=False).line.agg(["size", "min"]).reset_index()
    counts = counts.sort_values(["size", "min"], ascending=[False, True])
    most: pd.Series = counts.drop_duplicates(key).set_index(key)[column]
    return most


def read_online_retail_items(path: str | Path) -> pa.Table:
    """The catalogue: one item per product stock code in an Online Retail CSV.

    ``title`` is the code's most frequent description (the file also holds
    stock-keeping notes such as "damaged" or "?" on a few lines, which the
    count outvotes), ``price`` its median unit price over the sales at a
    price above zero (lines without a customer are often priced higher, so
    the latest sale can mislead), ``_line`` its first line. Charges
    (postage, fees, …) are no items.
    """
    lines = _read_lines(path, "Description")
    goods = lines[lines.goods]
    described = goods.dropna(subset=["Description"]).assign(
        Description=lambda f: f.Description.str.strip()
    )
    titles = _most_frequent(described[described.Description != ""], "StockCode", "Description")
    sold = goods[(goods.Quantity > 0) & (goods.UnitPrice > 0)]
    prices = sold.groupby("StockCode").UnitPrice.median()
    first = goods.groupby("StockCode", sort=False).line.min().sort_values()
    codes = first.index
    return pa.table(
        {
            "item_id": pa.array(codes, pa.string()),
            "title": pa.array(titles.reindex(codes), pa.string()),
            "price": pa.array(prices.reindex(codes), pa.float64()),
            "_line": pa.array(first.to_numpy(), pa.int64()),
        }
    )


def read_online_retail_customers(path: str | Path) -> pa.Table:
    """The customers of an Online Retail CSV: ``user_id``, ``first_seen``, ``attributes``.

    ``attributes`` holds the customer's ``country`` (the country of most of
    their invoice lines; the file gives one per line), so retention and
    lifetime value split by country (``retain cohorts --by country``).
    ``first_seen`` is their first invoice. Lines without a customer make no
    customer.
    """
    lines = _read_lines(path, "Country")
    known = lines[lines.CustomerID.notna() & (lines.CustomerID.str.strip() != "")]
    country = _most_frequent(known, "CustomerID", "Country")
    first = known.groupby("CustomerID", sort=False).agg(
        first_seen=("InvoiceDate", "min"), _line=("line", "min")
    )
    first = first.sort_values("_line")
    return pa.table(
        {
            "user_id": pa.array(first.index, pa.string()),
            "first_seen": pa.array(first.first_seen, pa.string()),
            "attributes": pa.array(
                [json.dumps({"country": c}) for c in country.reindex(first.index)], pa.string()
            ),
            "_line": pa.array(first._line.to_numpy(), pa.int64()),
        }
    )
