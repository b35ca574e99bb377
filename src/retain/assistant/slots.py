"""Slot extraction: order ids, catalogue products, quantities, dates, amounts.

Rules, not a model: these values have shapes (an order id, a price, a date)
or come from a closed list (the catalogue), and a rule that is right is
better than a model that is usually right when the value drives an action on
a customer's order. Chinese and English both. Personal data (phones, e-mail
addresses) is recognised so that it can be masked before anything is logged.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["Catalogue", "Slots", "extract_slots", "mask_personal_data"]

# Starts only at the start of a token and a local part is at most 64 characters
# (RFC 5321), so a long run without "@" costs linear time, not quadratic.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+")
# A run of digits with the separators phone numbers are written with (spaces,
# hyphens, dots, brackets, a leading +), in any country's grouping;
# _mask_phone then keeps only runs of 7 to 15 digits that are not dates, so
# order ids (letter or # in front), prices and ISO dates stay readable.
_PHONE = re.compile(r"(?<![\w#.,+])\+?\(?\d(?:[\d().-]|[ \t](?=[\d(]))*\d(?!\w)")
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
# Letters and digits around the id end it; Chinese characters do not (订单O000102).
_ORDER_ID_DEFAULT = r"(?<![A-Za-z0-9])[Oo]\d{4,}(?![0-9])|(?<![0-9])#\d{4,}(?![0-9])"
_AMOUNT = re.compile(
    r"(?:[$¥￥€£]\s?(?P<a>\d+(?:[.,]\d{1,2})?))"
    r"|(?:(?<![\d.])(?P<b>\d+(?:\.\d{1,2})?)\s?(?:元|块|rmb|RMB|yuan|dollars?|usd|USD|eur|EUR))"
)
_CN_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_EN_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_QUANTITY = re.compile(
    r"(?P<n>(?<!\d)\d+|[一二两三四五六七八九十])\s?(?:件|个|瓶|盒|双|支|套|份)"
    r"|(?P<m>(?<!\d)\d+|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
    r"(?:pieces?|items?|units?|bottles?|boxes?|pairs?|packs?|of (?:them|these|those))\b",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b|(\d{4})年(\d{1,2})月(\d{1,2})日")
_RELATIVE_DAYS = {
    "today": 0, "yesterday": -1, "tomorrow": 1, "day before yesterday": -2,
    "今天": 0, "昨天": -1, "明天": 1, "前天": -2, "后天": 2,
}  # fmt: skip
_RELATIVE_WEEKS = {"last week": -7, "上周": -7, "上个星期": -7, "next week": 7, "下周": 7}


@dataclass(frozen=True)
class Catalogue:
    """Product names to recognise: ``(item_id, title)`` pairs in any language."""

    titles: Sequence[tuple[str, str]] = ()

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str | None]]) -> Catalogue:
        return cls(tuple((item, title) for item, title in rows if title))

    def find(self, text: str) -> list[str]:
        """Item ids whose title, or a distinctive part of it, the text names.

        Longest titles first, so "hydrating face serum" beats "serum".
        """
        lowered = text.lower()
        found: list[str] = []
        for item_id, title in sorted(self.titles, key=lambda pair: -len(pair[1])):
            name = title.lower()
            if len(name) >= 2 and name in lowered and item_id not in found:
                found.append(item_id)
        return found


@dataclass
class Slots:
    """What one message said about orders, products, numbers and dates."""

    order_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    quantity: int | None = None
    dates: list[dt.date] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "order_ids": list(self.order_ids),
            "item_ids": list(self.item_ids),
            "quantity": self.quantity,
            "dates": [d.isoformat() for d in self.dates],
            "amounts": list(self.amounts),
        }


def extract_slots(
    text: str,
    *,
    catalogue: Catalogue | None = None,
    today: dt.date | None = None,
    order_id_pattern: str = _ORDER_ID_DEFAULT,
) -> Slots:
    """Every slot value in ``text``; nothing is guessed that the text does not say."""
    today = today or dt.date.today()
    slots = Slots()
    for match in re.finditer(order_id_pattern, text):
        value = match.group(0).lstrip("#")
        value = value[0].upper() + value[1:] if value[:1].isalpha() else value
        if value not in slots.order_ids:
            slots.order_ids.append(value)
    if catalogue is not None:
        slots.item_ids = catalogue.find(text)
    for match in _AMOUNT.finditer(text):
        raw = match.group("a") or match.group("b")
        slots.amounts.append(float(raw.replace(",", ".")))
    quantity = _QUANTITY.search(text)
    if quantity is not None:
        raw = (quantity.group("n") or quantity.group("m") or "").lower()
        slots.quantity = int(raw) if raw.isdigit() else _CN_DIGITS.get(raw) or _EN_NUMBERS.get(raw)
    slots.dates = _dates(text, today)
    return slots


def _dates(text: str, today: dt.date) -> list[dt.date]:
    out: list[dt.date] = []
    for match in _ISO_DATE.finditer(text):
        y, m, d = (int(g) for g in (match.groups()[:3] if match.group(1) else match.groups()[3:]))
        try:
            out.append(dt.date(y, m, d))
        except ValueError:
            continue  # "2024-02-31" is not a date; say nothing rather than guess
    lowered = text.lower()
    # Longest phrase first, so "day before yesterday" is not also "yesterday".
    for phrase, offset in sorted(
        {**_RELATIVE_DAYS, **_RELATIVE_WEEKS}.items(), key=lambda pair: -len(pair[0])
    ):
        if phrase in lowered:
            out.append(today + dt.timedelta(days=offset))
            lowered = lowered.replace(phrase, " ")
    return out


def mask_personal_data(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers replaced, for logs."""
    masked = _EMAIL.sub("[email]", text)
    return _PHONE.sub(_mask_phone, masked)


def _mask_phone(match: re.Match[str]) -> str:
    token = match.group(0)
    digits = sum(ch.isdigit() for ch in token)
    if not 7 <= digits <= 15 or _DATE.fullmatch(token):
        return token
    return "[phone]"
