"""Money: exact decimal amounts in a currency, explicit rounding, splits that sum exactly."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.domain.money import (
    AmountInvalid,
    CurrencyMismatch,
    CurrencyUnknown,
    Money,
    parse_amount,
    split_evenly,
)


def test_of_rounds_half_up_to_the_minor_unit_unless_told_otherwise() -> None:
    assert Money.of("1.005", "CNY") == Money.of("1.01", "CNY")
    assert Money.of("1.005", "CNY", rounding=ROUND_DOWN) == Money.of("1.00", "CNY")
    assert Money.of("2.5", "JPY") == Money.of(3, "JPY")


def test_minor_units_round_trip() -> None:
    assert Money.from_minor(12345, "CNY") == Money.of("123.45", "CNY")
    assert Money.of("123.45", "CNY").to_minor() == 12345
    assert Money.from_minor(500, "JPY").to_minor() == 500
    assert str(Money.from_minor(-5, "USD")) == "-0.05 USD"


def test_currencies_never_mix() -> None:
    with pytest.raises(CurrencyMismatch, match="convert first"):
        Money.of(1, "CNY") + Money.of(1, "USD")
    with pytest.raises(CurrencyMismatch):
        _ = Money.of(1, "CNY") < Money.of(1, "USD")
    assert Money.of(1, "CNY") != Money.of(1, "USD")
    with pytest.raises(CurrencyUnknown, match="ISO 4217"):
        Money.of(1, "XYZ")


@pytest.mark.parametrize("bad", ["abc", "", "NaN", "Infinity"])
def test_non_amounts_are_refused_with_a_domain_error(bad: str) -> None:
    with pytest.raises(AmountInvalid):
        Money.of(bad, "CNY")


def test_non_finite_or_non_decimal_amounts_are_refused() -> None:
    with pytest.raises(AmountInvalid, match="finite"):
        Money(Decimal("NaN"), "CNY")
    with pytest.raises(AmountInvalid, match="Decimal"):
        Money(1.5, "CNY")  # type: ignore[arg-type]


def test_parse_amount_refuses_more_decimals_than_the_currency_has() -> None:
    assert parse_amount(" 1234.50 ", "CNY") == Decimal("1234.50")
    with pytest.raises(AmountInvalid, match="more decimals"):
        parse_amount("1.234", "CNY")
    with pytest.raises(AmountInvalid, match="more decimals"):
        parse_amount("1.5", "JPY")


def test_split_evenly_last_part_absorbs_the_rounding() -> None:
    assert split_evenly(Money.of(100, "CNY"), 3) == [
        Money.of("33.33", "CNY"),
        Money.of("33.33", "CNY"),
        Money.of("33.34", "CNY"),
    ]
    assert split_evenly(Money.of("200", "CNY"), 3)[-1] == Money.of("66.68", "CNY")


def test_split_evenly_never_leaves_a_negative_last_part() -> None:
    # rounding the equal parts half up would give 0.01 x 9 and a last part of -0.04
    parts = split_evenly(Money.of("0.05", "CNY"), 10)
    assert parts[-1] == Money.of("0.05", "CNY")
    assert all(p.amount >= 0 for p in parts)


def test_split_into_no_parts_is_refused() -> None:
    with pytest.raises(AmountInvalid, match="at least 1"):
        split_evenly(Money.of(1, "CNY"), 0)


@settings(deadline=None)
@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=1, max_value=400),
    st.sampled_from(["CNY", "JPY"]),
)
def test_split_sums_exactly_and_parts_differ_by_less_than_the_count(
    minor: int, parts: int, currency: str
) -> None:
    total = Money.from_minor(minor, currency)
    split = split_evenly(total, parts)
    assert len(split) == parts
    assert sum((p.to_minor() for p in split), 0) == minor
    assert all(p == split[0] for p in split[:-1])
    assert 0 <= split[-1].to_minor() - split[0].to_minor() < parts
