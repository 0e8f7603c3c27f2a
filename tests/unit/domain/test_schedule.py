"""Schedules against published figures, and their invariants for any loan."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.domain.money import Money
from arrears.domain.schedule import (
    ScheduleInvalid,
    add_months,
    annuity_payment,
    annuity_schedule,
    equal_principal_schedule,
    monthly_due_dates,
)


def cny(text: str) -> Money:
    return Money.of(text, "CNY")


def test_100_at_9_4822_percent_over_6_months_pays_17_13_a_month() -> None:
    items = annuity_schedule(cny("100"), Decimal("0.094822"), 6, date(2024, 1, 31))
    assert [i.principal + i.interest for i in items] == [cny("17.13")] * 6
    assert [i.interest for i in items] == [
        cny(x) for x in ("0.79", "0.66", "0.53", "0.40", "0.27", "0.13")
    ]
    assert sum((i.principal for i in items), cny("0")) == cny("100")


def test_10000_at_12_percent_over_12_months_pays_888_49() -> None:
    items = annuity_schedule(cny("10000"), Decimal("0.12"), 12, date(2024, 1, 15))
    first = items[0]
    assert (first.principal, first.interest) == (cny("788.49"), cny("100.00"))
    assert [i.principal + i.interest for i in items[:-1]] == [cny("888.49")] * 11
    # the last instalment repays the remaining balance exactly: 879.67 + 8.80
    assert (items[-1].principal, items[-1].interest) == (cny("879.67"), cny("8.80"))
    assert sum((i.principal for i in items), cny("0")) == cny("10000")
    assert sum((i.interest for i in items), cny("0")) == cny("661.86")


def test_mortgage_200000_at_6_percent_over_30_years_pays_1199_10() -> None:
    assert annuity_payment(Money.of(200000, "USD"), Decimal("0.06"), 360) == Money.of(
        "1199.10", "USD"
    )


def test_zero_rate_annuity_is_equal_principal_without_interest() -> None:
    items = annuity_schedule(cny("100"), Decimal(0), 3, date(2024, 1, 1))
    assert [i.principal for i in items] == [cny("33.33"), cny("33.33"), cny("33.34")]
    assert all(i.interest.is_zero() for i in items)


def test_equal_principal_schedule_interest_on_declining_balance() -> None:
    items = equal_principal_schedule(cny("1200"), Decimal("0.12"), 3, date(2024, 1, 10))
    assert [i.principal for i in items] == [cny("400")] * 3
    assert [i.interest for i in items] == [cny("12.00"), cny("8.00"), cny("4.00")]


def test_fee_per_instalment_is_a_separate_component() -> None:
    items = annuity_schedule(cny("100"), Decimal("0.094822"), 6, date(2024, 1, 31), cny("2.50"))
    assert [i.fee for i in items] == [cny("2.50")] * 6
    assert items[0].total_due() == cny("19.63")


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 1, 31), 2, date(2024, 3, 31)),  # from the first date, not from Feb 29
        (date(2024, 1, 30), 1, date(2024, 2, 29)),
        (date(2024, 11, 30), 3, date(2025, 2, 28)),
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
        (date(2024, 5, 31), 1, date(2024, 6, 30)),
    ],
)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_due_dates_come_back_to_the_31st_after_a_short_month() -> None:
    assert monthly_due_dates(date(2024, 1, 31), 4) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


@pytest.mark.parametrize(
    ("principal", "rate", "months"),
    [("0", "0.1", 3), ("-5", "0.1", 3), ("100", "-0.01", 3), ("100", "0.1", 0)],
)
def test_invalid_loans_are_refused(principal: str, rate: str, months: int) -> None:
    with pytest.raises(ScheduleInvalid):
        annuity_schedule(cny(principal), Decimal(rate), months, date(2024, 1, 1))


def test_fee_in_another_currency_is_refused() -> None:
    with pytest.raises(ScheduleInvalid, match="one currency"):
        annuity_schedule(cny("100"), Decimal("0.1"), 3, date(2024, 1, 1), Money.of(1, "USD"))


loans = st.tuples(
    st.integers(min_value=1, max_value=10**9).map(lambda n: Money.from_minor(n, "CNY")),
    st.integers(min_value=0, max_value=360_000).map(lambda ppm: Decimal(ppm) / 1_000_000),
    st.integers(min_value=1, max_value=60),
)


@settings(deadline=None)
@given(loans, st.sampled_from([annuity_schedule, equal_principal_schedule]))
def test_any_schedule_repays_the_principal_exactly_and_never_goes_negative(
    loan: tuple[Money, Decimal, int], build: object
) -> None:
    principal, rate, months = loan
    items = build(principal, rate, months, date(2024, 1, 31))  # type: ignore[operator]
    assert len(items) == months
    assert sum((i.principal for i in items), Money.zero("CNY")) == principal
    assert all(i.principal.amount >= 0 and i.interest.amount >= 0 for i in items)
    assert [i.seq for i in items] == list(range(1, months + 1))
    assert all(a.due_on < b.due_on for a, b in itertools.pairwise(items))


@settings(deadline=None)
@given(loans)
def test_annuity_payments_are_level_until_the_last(loan: tuple[Money, Decimal, int]) -> None:
    principal, rate, months = loan
    items = annuity_schedule(principal, rate, months, date(2024, 1, 31))
    payment = annuity_payment(principal, rate, months)
    balance = principal
    for item in items[:-1]:
        # level, unless the balance ran out first (tiny loans)
        assert item.principal + item.interest == payment or item.principal == balance
        balance = balance - item.principal
