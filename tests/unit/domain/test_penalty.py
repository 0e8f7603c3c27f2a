"""Penalty interest: the cap on total cost, daily accrual, and agreement with the SQL formula."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.domain.money import Money
from arrears.domain.penalty import (
    PenaltyInputInvalid,
    accrue_penalty,
    accrue_penalty_minor,
    effective_penalty_rate,
    rate_to_ppm,
)


@pytest.mark.parametrize(
    ("annual", "penalty", "expected"),
    [
        ("0.12", "0.06", "0.06"),  # well within the cap
        ("0.18", "0.09", "0.06"),  # capped: 18% + 6% = 24%
        ("0.18", "0.06", "0.06"),  # exactly at the cap
        ("0.24", "0.05", "0"),  # the contract rate already uses the cap
        ("0.30", "0.05", "0"),  # never negative
        ("0", "0.36", "0.24"),
    ],
)
def test_effective_rate_keeps_total_cost_within_the_cap(
    annual: str, penalty: str, expected: str
) -> None:
    assert effective_penalty_rate(Decimal(annual), Decimal(penalty)) == Decimal(expected)


def test_the_cap_is_configurable() -> None:
    assert effective_penalty_rate(Decimal("0.18"), Decimal("0.2"), cap=Decimal("0.36")) == Decimal(
        "0.18"
    )


def test_negative_rates_are_refused() -> None:
    with pytest.raises(PenaltyInputInvalid, match="negative"):
        effective_penalty_rate(Decimal("-0.01"), Decimal("0.05"))


def test_accrual_is_actual_365_half_up() -> None:
    # 1000 * 0.06 * 30 / 365 = 4.9315...
    assert accrue_penalty(Money.of(1000, "CNY"), Decimal("0.06"), 30) == Money.of("4.93", "CNY")
    # 73 * 0.05 * 1 / 365 = 0.01 exactly; 36.50 * 0.05 / 365 = 0.005 -> half up to 0.01
    assert accrue_penalty(Money.of(73, "CNY"), Decimal("0.05"), 1) == Money.of("0.01", "CNY")
    assert accrue_penalty(Money.of("36.50", "CNY"), Decimal("0.05"), 1) == Money.of("0.01", "CNY")
    assert accrue_penalty(Money.of("36.49", "CNY"), Decimal("0.05"), 1) == Money.of("0.00", "CNY")
    assert accrue_penalty(Money.of(100000, "JPY"), Decimal("0.146"), 1) == Money.of(40, "JPY")


def test_zero_days_accrue_nothing_and_negative_days_are_refused() -> None:
    assert accrue_penalty(Money.of(1000, "CNY"), Decimal("0.06"), 0).is_zero()
    with pytest.raises(PenaltyInputInvalid, match="runs forward"):
        accrue_penalty(Money.of(1000, "CNY"), Decimal("0.06"), -1)


def test_the_sql_formula_in_minor_units() -> None:
    assert accrue_penalty_minor(100_000, 60_000, 30) == 493
    assert accrue_penalty_minor(3_650, 50_000, 1) == 1  # exactly half a fen rounds up
    assert accrue_penalty_minor(3_649, 50_000, 1) == 0


def test_rates_convert_to_ppm_exactly() -> None:
    assert rate_to_ppm(Decimal("0.18")) == 180_000
    assert rate_to_ppm(Decimal("0.094822")) == 94_822
    with pytest.raises(PenaltyInputInvalid, match="finer"):
        rate_to_ppm(Decimal("0.0000001"))


@settings(deadline=None)
@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=1_000_000),
    st.integers(min_value=0, max_value=3650),
    st.sampled_from(["CNY", "JPY"]),
)
def test_domain_and_sql_formulas_agree_to_the_minor_unit(
    principal_minor: int, rate_ppm: int, days: int, currency: str
) -> None:
    rate = Decimal(rate_ppm) / 1_000_000
    money = accrue_penalty(Money.from_minor(principal_minor, currency), rate, days)
    assert money.to_minor() == accrue_penalty_minor(principal_minor, rate_ppm, days)


@settings(deadline=None)
@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=500_000),
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=0, max_value=400),
)
def test_accruing_in_two_periods_differs_from_one_by_at_most_a_cent(
    p: int, rate_ppm: int, first: int, second: int
) -> None:
    whole = accrue_penalty_minor(p, rate_ppm, first + second)
    split = accrue_penalty_minor(p, rate_ppm, first) + accrue_penalty_minor(p, rate_ppm, second)
    assert abs(whole - split) <= 1
