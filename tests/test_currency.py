"""The shop's currency: which signs stand for it, and how amounts read."""

from __future__ import annotations

import pytest

from retain.currency import CURRENCY_FAMILIES, format_money, markers_for, money_affixes


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1234.5, None, "1,234.50"),
        (1234.5, "CNY", "¥1,234.50"),
        (-3, "USD", "-$3.00"),
        (1234.5, "JPY", "¥1,234"),  # yen and won have no minor unit
        (-0.001, "EUR", "€0.00"),  # no minus on a rounded zero
        (1234.5, "SEK", "1,234.50 SEK"),  # no sign known: the code after it
        (99, "HKD", "HK$99.00"),
    ],
)
def test_amounts_read_as_a_shop_team_writes_them(
    amount: float, currency: str | None, shown: str
) -> None:
    assert format_money(amount, currency) == shown


def test_a_sign_stands_for_every_currency_that_writes_it() -> None:
    assert markers_for("CNY") == ("¥", "￥", "元", "CNY", "RMB")
    assert markers_for("JPY") == ("¥", "￥", "円", "JPY")
    assert "$" in markers_for("HKD") and "USD" not in markers_for("HKD")
    assert markers_for("SEK") == ()
    # Every sign belongs to one family, which the within-file check compares.
    signs = [s for family in CURRENCY_FAMILIES.values() for s in family]
    assert len(signs) == len(set(signs)) and "元" in CURRENCY_FAMILIES["¥"]
    assert money_affixes(None) == ("", "") and money_affixes("CHF") == ("", " CHF")
