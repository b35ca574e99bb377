"""The CDNOW purchase log (Fader, Hardie & Lee 2005), as orders.

Two layouts exist: the master file ``customer_id date cds dollars`` (with a
header line) and the 1/10 sample ``customer_id cohort_id date cds dollars``.
Each row is one purchase occasion; the order id is derived from customer,
date and the occasion's number that day, so re-loading adds nothing.
Amounts are left as given: validation quarantines negative ones (returns are
an order *status*, never a negative amount, in Retain's data model).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from retain.errors import InvalidInputError

__all__ = ["read_cdnow"]


def read_cdnow(path: str | Path) -> pa.Table:
    """Orders from a CDNOW master or sample file, with ``_line`` per row.

    Raises:
        InvalidInputError: a data line has neither 4 nor 5 fields.
    """
    rows: dict[str, list[object]] = {
        k: [] for k in ("order_id", "user_id", "ts", "num_items", "amount", "status", "_line")
    }
    seen: dict[tuple[str, str], int] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            tokens = line.split()
            if not tokens:
                continue
            if number == 1 and not tokens[0].isdigit():
                continue  # the master file's header
            if len(tokens) == 4:
                customer, date, cds, dollars = tokens
            elif len(tokens) == 5:
                customer, _cohort, date, cds, dollars = tokens
            else:
                raise InvalidInputError(
                    f"{path}:{number}: expected 'customer date cds dollars' "
                    f"(or with a cohort id after the customer), got {line.strip()!r}"
                )
            customer = customer.lstrip("0") or "0"
            occasion = seen.get((customer, date), 0) + 1
            seen[(customer, date)] = occasion
            rows["order_id"].append(f"cdnow-{customer}-{date}-{occasion}")
            rows["user_id"].append(customer)
            rows["ts"].append(date)
            rows["num_items"].append(cds)
            rows["amount"].append(dollars)
            rows["status"].append("completed")
            rows["_line"].append(number)
    return pa.table(
        {k: pa.array(v, pa.int64() if k == "_line" else pa.string()) for k, v in rows.items()}
    )
