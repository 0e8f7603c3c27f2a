"""Promises to pay: validation at the boundaries and settlement day by day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.domain.money import CurrencyMismatch, Money
from arrears.domain.promises import PromiseInvalid, PromiseStatus, PromiseToPay, settle

MADE = date(2024, 6, 3)
DUE = date(2024, 6, 10)


def cny(text: str) -> Money:
    return Money.of(text, "CNY")


PROMISE = PromiseToPay(cny("500"), MADE, DUE)


@pytest.mark.parametrize(
    ("paid", "as_of", "status"),
    [
        ("0", MADE, PromiseStatus.open),
        ("500", MADE, PromiseStatus.kept),  # kept at once, before the due date
        ("600", date(2024, 6, 5), PromiseStatus.kept),
        ("499.99", DUE, PromiseStatus.open),  # the due date itself still counts
        ("0", DUE, PromiseStatus.open),
        ("500", DUE, PromiseStatus.kept),
        ("0", DUE + timedelta(days=1), PromiseStatus.broken),
        ("0.01", DUE + timedelta(days=1), PromiseStatus.partly_kept),
        ("499.99", DUE + timedelta(days=1), PromiseStatus.partly_kept),
        ("500", DUE + timedelta(days=30), PromiseStatus.kept),
    ],
)
def test_settlement(paid: str, as_of: date, status: PromiseStatus) -> None:
    assert settle(PROMISE, cny(paid), as_of) is status


def test_a_story_day_by_day() -> None:
    """Promise of 500 made on 3 June for 10 June; 200 arrives on the 8th, nothing more."""
    paid_by = {date(2024, 6, 8): cny("200")}
    paid = cny("0")
    seen = []
    for n in range(10):
        day = MADE + timedelta(days=n)
        paid = paid + paid_by.get(day, cny("0"))
        seen.append((day.day, settle(PROMISE, paid, day)))
    assert seen == [
        (3, PromiseStatus.open),
        (4, PromiseStatus.open),
        (5, PromiseStatus.open),
        (6, PromiseStatus.open),
        (7, PromiseStatus.open),
        (8, PromiseStatus.open),
        (9, PromiseStatus.open),
        (10, PromiseStatus.open),
        (11, PromiseStatus.partly_kept),
        (12, PromiseStatus.partly_kept),
    ]


@pytest.mark.parametrize(
    ("amount", "made_on", "due_on", "message"),
    [
        ("0", MADE, DUE, "positive amount"),
        ("-5", MADE, DUE, "positive amount"),
        ("10", MADE, MADE - timedelta(days=1), "before the day it was made"),
        ("10", MADE, MADE + timedelta(days=31), "at most 30 days"),
    ],
)
def test_invalid_promises(amount: str, made_on: date, due_on: date, message: str) -> None:
    with pytest.raises(PromiseInvalid, match=message):
        PromiseToPay(cny(amount), made_on, due_on)


def test_horizon_boundaries() -> None:
    assert PromiseToPay(cny("10"), MADE, MADE).due_on == MADE  # today is fine
    assert PromiseToPay(cny("10"), MADE, MADE + timedelta(days=30)).due_on == date(2024, 7, 3)
    with pytest.raises(PromiseInvalid, match="at most 7 days"):
        PromiseToPay(cny("10"), MADE, MADE + timedelta(days=8), max_days_ahead=7)
    # a promise made under an older policy still loads
    old = PromiseToPay(cny("10"), MADE, MADE + timedelta(days=90), max_days_ahead=None)
    assert old == PromiseToPay(cny("10"), MADE, MADE + timedelta(days=90), max_days_ahead=None)


def test_settle_refuses_nonsense() -> None:
    with pytest.raises(CurrencyMismatch):
        settle(PROMISE, Money.of(1, "USD"), DUE)
    with pytest.raises(PromiseInvalid, match="negative"):
        settle(PROMISE, cny("-1"), DUE)
    with pytest.raises(PromiseInvalid, match="on or after the day it was made"):
        settle(PROMISE, cny("0"), MADE - timedelta(days=1))


def test_final_statuses() -> None:
    assert [s.final for s in PromiseStatus] == [False, True, True, True]


@settings(deadline=None)
@given(
    st.integers(min_value=0, max_value=100_000),
    st.integers(min_value=0, max_value=40),
)
def test_once_final_a_promise_stays_final_as_days_pass(paid_minor: int, day: int) -> None:
    paid = Money.from_minor(paid_minor, "CNY")
    today = settle(PROMISE, paid, MADE + timedelta(days=day))
    tomorrow = settle(PROMISE, paid, MADE + timedelta(days=day + 1))
    if today.final:
        assert tomorrow is today
