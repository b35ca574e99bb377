"""The UCI Online Retail invoice-line log, as orders.

One input row is one invoice line (``InvoiceNo, StockCode, Description,
Quantity, InvoiceDate, UnitPrice, CustomerID, Country``). Lines are grouped
into one order per invoice:

* ``amount`` is the absolute value of the invoice's net ``Quantity *
  UnitPrice`` and ``num_items`` the absolute net quantity, because Retain
  never stores negative amounts;
* an invoice whose number starts with ``C`` is a cancellation and gets status
  ``cancelled``; any other invoice whose net value is negative (stock
  adjustments, returns booked as negative lines) gets ``returned``; so
  returns stay visible as statuses instead of being subtracted from spend;
* lines without a ``CustomerID`` form orders without a ``user_id``, which
  ingestion quarantines with that reason (they cannot belong to a customer);
* ``items`` lists each line's stock code, quantity and unit price.

``_line`` is the file line of the invoice's first row, so a quarantined
order points back to where it starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from retain.errors import InvalidInputError

__all__ = ["read_online_retail"]

_COLUMNS = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")


def read_online_retail(path: str | Path) -> pa.Table:
    """Orders (one per invoice) from an Online Retail CSV (``.gz`` allowed)."""
    source = Path(path)
    table = pacsv.read_csv(
        source,
        convert_options=pacsv.ConvertOptions(
            column_types={"InvoiceNo": pa.string(), "StockCode": pa.string(),
                          "CustomerID": pa.string(), "InvoiceDate": pa.string()},
        ),
    )  # fmt: skip
    missing = [c for c in _COLUMNS if c not in table.column_names]
    if missing:
        raise InvalidInputError(
            f"{source}: not an Online Retail file; missing columns {missing} "
            f"(it has {table.column_names})"
        )
    lines = table.select(list(_COLUMNS)).to_pandas()
    lines["line"] = range(2, len(lines) + 2)  # line 1 is the header
    lines["value"] = lines.Quantity * lines.UnitPrice
    lines["item"] = [
        {"item_id": code, "quantity": int(qty), "price": float(price)}
        for code, qty, price in zip(lines.StockCode, lines.Quantity, lines.UnitPrice, strict=True)
    ]
    grouped = lines.groupby("InvoiceNo", sort=False)
    orders = pd.DataFrame(
        {
            "user_id": grouped.CustomerID.first(),
            "ts": grouped.InvoiceDate.min(),
            "net": grouped.value.sum(),
            "units": grouped.Quantity.sum(),
            "_line": grouped.line.min(),
            "items": grouped.item.agg(lambda items: json.dumps(list(items))),
        }
    ).reset_index()
    cancelled = orders.InvoiceNo.str.startswith("C")
    orders["status"] = "completed"
    orders.loc[orders.net < 0, "status"] = "returned"
    orders.loc[cancelled, "status"] = "cancelled"
    return pa.table(
        {
            "order_id": pa.array("retail-" + orders.InvoiceNo, pa.string()),
            "user_id": pa.array(orders.user_id, pa.string()),
            "ts": pa.array(orders.ts, pa.string()),
            "amount": pa.array(orders.net.abs().round(2).astype(str), pa.string()),
            "num_items": pa.array(orders.units.abs().astype(str), pa.string()),
            "status": pa.array(orders.status, pa.string()),
            "items": pa.array(orders["items"], pa.string()),
            "_line": pa.array(orders._line, pa.int64()),
        }
    )
