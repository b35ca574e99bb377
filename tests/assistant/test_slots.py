"""Slot values a message states, in English and Chinese; personal data masked."""

from __future__ import annotations

import datetime as dt

import pytest

from retain.assistant.slots import Catalogue, extract_slots, mask_personal_data

TODAY = dt.date(2025, 6, 10)


@pytest.mark.parametrize(
    ("text", "orders"),
    [
        ("where is O000123?", ["O000123"]),
        ("订单O000102发货了吗", ["O000102"]),
        ("orders o004567 and #99881", ["O004567", "99881"]),
        ("call me at 2024", []),
        ("FOO000123 is not an order", []),
    ],
)
def test_order_ids(text: str, orders: list[str]) -> None:
    assert extract_slots(text, today=TODAY).order_ids == orders


def test_amounts_quantities_and_dates() -> None:
    en = extract_slots("I paid $12.50 for 2 pieces yesterday", today=TODAY)
    assert en.amounts == [12.5] and en.quantity == 2 and en.dates == [dt.date(2025, 6, 9)]
    zh = extract_slots("前天买了两件，花了99元", today=TODAY)
    assert zh.amounts == [99.0] and zh.quantity == 2 and zh.dates == [dt.date(2025, 6, 8)]
    assert extract_slots("on 2025-05-03 and 2025年6月1日", today=TODAY).dates == [
        dt.date(2025, 5, 3),
        dt.date(2025, 6, 1),
    ]
    assert extract_slots("the day before yesterday", today=TODAY).dates == [dt.date(2025, 6, 8)]


def test_an_impossible_date_is_not_guessed() -> None:
    assert extract_slots("delivered 2025-02-31", today=TODAY).dates == []


def test_catalogue_products_longest_name_first() -> None:
    catalogue = Catalogue.from_rows([("I1", "Face Serum"), ("I2", "Serum"), ("I3", "保湿面霜")])
    assert extract_slots("my face serum leaked", catalogue=catalogue).item_ids == ["I1", "I2"]
    assert extract_slots("保湿面霜还有货吗", catalogue=catalogue).item_ids == ["I3"]
    assert extract_slots("nothing here", catalogue=catalogue).item_ids == []


def test_personal_data_is_masked() -> None:
    text = "mail bob.smith+shop@mail.example.org or call 138 0013 8000 / +44 20 7946 0958"
    masked = mask_personal_data(text)
    assert "example" not in masked and "8000" not in masked and "0958" not in masked
    assert masked.count("[phone]") == 2 and "[email]" in masked
    assert mask_personal_data("order O000123 cost 59.90") == "order O000123 cost 59.90"
    # Other countries' groupings are phone numbers too.
    for phone in ("+44 7700 900123", "07700 900123", "(555) 123-4567", "555.123.4567"):
        assert mask_personal_data(f"call {phone} today") == "call [phone] today", phone
    # Dates, order numbers and amounts are not.
    for kept in ("on 2024-05-01", "order #12345678", "paid 1299.00 yuan", "on 05/01/2024"):
        assert mask_personal_data(kept) == kept
