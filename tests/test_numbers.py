"""Tests for how figures are written in tables and titles (``ntm.results.numbers``)."""

from __future__ import annotations

import math

from ntm.results.numbers import cost, number


def test_number_separates_thousands_rounds_from_100_and_keeps_three_digits_below() -> None:
    assert [number(v) for v in (1234567.0, 1000.0, 135.6, 99.94, 0.012345, 0.0)] == [
        "1,234,567", "1,000", "136", "99.9", "0.0123", "0"]
    assert number(math.nan) == "nan" and number(math.inf) == "inf"


def test_cost_keeps_two_decimals_from_100_bits() -> None:
    """Dynamic N-grams is judged to within a bit of its optimum near 133 bits."""
    assert [cost(v) for v in (134.5912, 1234.5, 99.94, 0.5)] == ["134.59", "1,234.50", "99.9",
                                                                  "0.5"]
    assert cost(math.nan) == "nan"
