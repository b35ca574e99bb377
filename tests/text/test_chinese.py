"""Traditional Chinese folds into Simplified; nothing else changes."""

from __future__ import annotations

from retain.text.chinese import to_simplified, to_traditional


def test_traditional_text_reads_as_simplified_and_other_text_is_untouched() -> None:
    assert to_simplified("質量很差，物流也慢，不會再買了") == "质量很差，物流也慢，不会再买了"
    assert to_simplified("退貨要多久？") == "退货要多久？"
    assert to_simplified("头发干了") == "头发干了"  # Simplified already: unchanged
    assert to_simplified("Great value, runs small 😀") == "Great value, runs small 😀"
    assert to_simplified("") == ""


def test_the_benchmarks_write_simplified_text_as_traditional_and_back() -> None:
    written = to_traditional(["质量很差，不会再买了", "Runs small"])
    assert written == ["質量很差，不會再買了", "Runs small"]
    assert [to_simplified(t) for t in written] == ["质量很差，不会再买了", "Runs small"]
