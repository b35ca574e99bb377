"""The shop's currency: which signs and codes in a file may stand for it, and how
amounts are shown.

Retain sums every amount of a shop as one currency (revenue, spend, lifetime
value, a campaign's budget), so a shop may name its currency (the ``currency``
setting, an ISO 4217 code). Ingestion then refuses amounts written in another
one, which a file of plain numbers cannot show, and the dashboard, the CLI and
the assistant show amounts with the currency's sign. Unset, amounts are plain
numbers and a load is only checked for mixing currencies within itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "CURRENCY_CODE",
    "CURRENCY_FAMILIES",
    "MARKERS",
    "format_money",
    "markers_for",
    "money_affixes",
]

#: An ISO 4217 currency code, as the ``currency`` setting and a ``currency`` column hold it.
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")

#: A sign or code a spreadsheet writes beside an amount (``¥128.00``, ``128元``,
#: ``USD 12``) -> its family and the currencies it may stand for. A sign names a
#: family, not a currency: ¥ is yuan and yen, $ many dollars, and 元 is also the
#: unit Taiwan and Hong Kong write prices in.
MARKERS: Mapping[str, tuple[str, tuple[str, ...]]] = MappingProxyType(
    {
        "¥": ("¥", ("CNY", "JPY")),
        "￥": ("¥", ("CNY", "JPY")),
        "元": ("¥", ("CNY", "TWD", "HKD")),
        "円": ("¥", ("JPY",)),
        "CNY": ("¥", ("CNY",)),
        "RMB": ("¥", ("CNY",)),
        "JPY": ("¥", ("JPY",)),
        "$": ("$", ("USD", "AUD", "CAD", "HKD", "TWD", "SGD", "NZD", "MXN")),
        "USD": ("$", ("USD",)),
        "AUD": ("$", ("AUD",)),
        "CAD": ("$", ("CAD",)),
        "HKD": ("$", ("HKD",)),
        "TWD": ("$", ("TWD",)),
        "SGD": ("$", ("SGD",)),
        "€": ("€", ("EUR",)),
        "EUR": ("€", ("EUR",)),
        "£": ("£", ("GBP",)),
        "GBP": ("£", ("GBP",)),
        "₹": ("₹", ("INR",)),
        "INR": ("₹", ("INR",)),
        "₩": ("₩", ("KRW",)),
        "KRW": ("₩", ("KRW",)),
        "CHF": ("CHF", ("CHF",)),
    }
)


def _families() -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for marker, (family, _) in MARKERS.items():
        grouped.setdefault(family, []).append(marker)
    return {family: tuple(markers) for family, markers in grouped.items()}


#: Currency family -> its signs and codes. A load whose amounts name several
#: families keeps the one most of them name (codes of one family are told
#: apart only against the shop's own currency).
CURRENCY_FAMILIES: Mapping[str, tuple[str, ...]] = MappingProxyType(_families())


def markers_for(currency: str) -> tuple[str, ...]:
    """The signs and codes that may stand for ``currency`` beside an amount.

    ``CNY`` -> ``¥ ￥ 元 CNY RMB``; a currency Retain knows no sign for
    accepts only plain numbers and its own code is not read beside them, so
    it gets none.
    """
    return tuple(marker for marker, (_, codes) in MARKERS.items() if currency in codes)


#: Code -> (sign shown before the amount, decimals). Others show the code after it.
_SHOWN: Mapping[str, tuple[str, int]] = MappingProxyType(
    {
        "CNY": ("¥", 2),
        "JPY": ("¥", 0),
        "USD": ("$", 2),
        "EUR": ("€", 2),
        "GBP": ("£", 2),
        "INR": ("₹", 2),
        "KRW": ("₩", 0),
        "HKD": ("HK$", 2),
        "TWD": ("NT$", 0),
        "SGD": ("S$", 2),
        "AUD": ("A$", 2),
        "CAD": ("CA$", 2),
        "NZD": ("NZ$", 2),
        "MXN": ("MX$", 2),
    }
)


def money_affixes(currency: str | None) -> tuple[str, str]:
    """What goes before and after an amount of ``currency``: ``("¥", "")``,
    ``("", " SEK")``; nothing without a currency (charts use it for their axes)."""
    if currency is None:
        return "", ""
    sign = _SHOWN.get(currency, ("", 2))[0]
    return (sign, "") if sign else ("", f" {currency}")


def format_money(amount: float, currency: str | None = None) -> str:
    """``amount`` as a shop team reads it: ``¥1,234.50``, ``-$3.00``, ``1,234.50 SEK``.

    Without a currency the amount is a plain number with two decimals, as
    before a shop names its currency.
    """
    decimals = _SHOWN.get(currency, ("", 2))[1] if currency is not None else 2
    digits = f"{abs(amount):,.{decimals}f}"
    minus = "-" if amount < 0 and float(digits.replace(",", "")) != 0 else ""
    before, after = money_affixes(currency)
    return f"{minus}{before}{digits}{after}"
