"""Payment allocation by waterfall: worked examples and properties for any account."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.domain.allocation import (
    AllocationLine,
    PaymentAmountInvalid,
    Waterfall,
    allocate,
)
from arrears.domain.money import CurrencyMismatch, Money
from arrears.domain.products import Component, DueItem
from tests.unit.domain.strategies import account_items, as_of_dates

DEFAULT = Waterfall.oldest_first_penalty_fee_interest_principal
P, F, INT, N = Component.penalty, Component.fee, Component.interest, Component.principal


def cny(text: str) -> Money:
    return Money.of(text, "CNY")


def item(seq: int, due_on: date, principal: str, interest: str, fee: str, penalty: str) -> DueItem:
    return DueItem(seq, due_on, cny(principal), cny(interest), cny(fee), cny(penalty))


ITEMS = [
    item(1, date(2024, 3, 10), "100", "10", "5", "2"),
    item(2, date(2024, 4, 10), "100", "8", "5", "1"),
    item(3, date(2024, 5, 10), "100", "6", "5", "0"),
]


def test_default_waterfall_pays_oldest_item_penalty_fee_interest_principal() -> None:
    result = allocate(ITEMS, cny("130"), DEFAULT, as_of=date(2024, 4, 20))
    assert result.lines == [
        AllocationLine(1, P, cny("2")),
        AllocationLine(1, F, cny("5")),
        AllocationLine(1, INT, cny("10")),
        AllocationLine(1, N, cny("100")),
        AllocationLine(2, P, cny("1")),
        AllocationLine(2, F, cny("5")),
        AllocationLine(2, INT, cny("7")),
    ]
    assert result.credit == cny("0")
    assert result.items[0].is_settled()
    assert result.items[1].outstanding_of(INT) == cny("1")
    assert result.items[1].outstanding() == cny("101")
    assert result.items[2] == ITEMS[2]


def test_interest_first_waterfall_pays_interest_principal_penalty_fee_within_an_item() -> None:
    result = allocate(
        ITEMS, cny("115"), Waterfall.interest_principal_penalty_fee, as_of=date(2024, 4, 20)
    )
    assert [(line.seq, line.component, line.amount) for line in result.lines] == [
        (1, INT, cny("10")),
        (1, N, cny("100")),
        (1, P, cny("2")),
        (1, F, cny("3")),
    ]
    assert result.items[0].outstanding_of(F) == cny("2")


def test_overpayment_pays_future_items_then_becomes_credit() -> None:
    total = sum((i.outstanding() for i in ITEMS), cny("0"))  # 342
    result = allocate(ITEMS, total + cny("8.50"), DEFAULT, as_of=date(2024, 3, 11))
    assert all(i.is_settled() for i in result.items)
    assert result.credit == cny("8.50")
    assert [line.seq for line in result.lines][-1] == 3


def test_an_item_due_today_is_paid_before_older_future_ones_but_after_overdue_ones() -> None:
    # seq 2 is due on as_of: it counts among the due items
    result = allocate(ITEMS, cny("240"), DEFAULT, as_of=date(2024, 4, 10))
    assert result.items[1].is_settled()
    assert result.items[2].outstanding() == cny("111") - cny("9")


def test_items_are_taken_by_due_date_whatever_order_they_come_in() -> None:
    shuffled = [ITEMS[2], ITEMS[0], ITEMS[1]]
    result = allocate(shuffled, cny("117"), DEFAULT, as_of=date(2024, 5, 20))
    assert {line.seq for line in result.lines} == {1}
    assert result.items[1].is_settled()  # the updated list keeps the caller's order
    assert result.items[0] == ITEMS[2]


def test_partly_paid_components_get_only_what_is_left() -> None:
    paid = DueItem(
        1,
        date(2024, 3, 10),
        cny("100"),
        cny("10"),
        paid_principal=cny("40"),
        paid_interest=cny("10"),
    )
    result = allocate([paid], cny("100"), DEFAULT, as_of=date(2024, 3, 20))
    assert result.lines == [AllocationLine(1, N, cny("60"))]
    assert result.credit == cny("40")


def test_a_waived_amount_is_not_collected() -> None:
    item = DueItem(1, date(2024, 3, 10), cny("100"), cny("10"), penalty=cny("5"))
    waived = item.with_waived(Component.penalty)
    result = allocate([waived], cny("200"), DEFAULT, as_of=date(2024, 3, 20))
    assert result.lines == [AllocationLine(1, INT, cny("10")), AllocationLine(1, N, cny("100"))]
    assert result.credit == cny("90")
    assert result.items[0].cash_paid() == cny("110")


@pytest.mark.parametrize("amount", ["0", "-1"])
def test_a_payment_must_be_positive(amount: str) -> None:
    with pytest.raises(PaymentAmountInvalid, match="positive"):
        allocate(ITEMS, cny(amount), DEFAULT, as_of=date(2024, 4, 20))


def test_a_payment_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        allocate(ITEMS, Money.of(10, "USD"), DEFAULT, as_of=date(2024, 4, 20))


def test_no_items_means_everything_is_credit() -> None:
    result = allocate([], cny("12.34"), DEFAULT, as_of=date(2024, 4, 20))
    assert result.lines == [] and result.credit == cny("12.34")


payments = st.integers(min_value=1, max_value=300_000).map(lambda n: Money.from_minor(n, "CNY"))
waterfalls = st.sampled_from(list(Waterfall))


@settings(deadline=None)
@given(account_items(), payments, waterfalls, as_of_dates())
def test_money_is_conserved_to_the_cent(
    items: list[DueItem], amount: Money, waterfall: Waterfall, as_of: date
) -> None:
    result = allocate(items, amount, waterfall, as_of)
    assert result.allocated() + result.credit == amount
    assert all(line.amount.amount > 0 for line in result.lines)
    before = sum((i.outstanding() for i in items), Money.zero("CNY"))
    after = sum((i.outstanding() for i in result.items), Money.zero("CNY"))
    assert before - after == amount - result.credit
    assert result.credit.is_zero() or after.is_zero()  # credit only once everything is paid


@settings(deadline=None)
@given(account_items(), payments, waterfalls, as_of_dates())
def test_no_component_is_overpaid(
    items: list[DueItem], amount: Money, waterfall: Waterfall, as_of: date
) -> None:
    result = allocate(items, amount, waterfall, as_of)
    for old, new in zip(items, result.items, strict=True):
        for c in Component:
            assert new.paid(c) <= new.due(c)
            paid_now = sum(
                (ln.amount for ln in result.lines if ln.seq == old.seq and ln.component == c),
                Money.zero("CNY"),
            )
            assert new.paid(c) == old.paid(c) + paid_now
            assert paid_now <= old.outstanding_of(c)


@settings(deadline=None)
@given(account_items(), payments, waterfalls, as_of_dates())
def test_an_older_item_is_never_left_unpaid_while_a_younger_one_gets_money(
    items: list[DueItem], amount: Money, waterfall: Waterfall, as_of: date
) -> None:
    result = allocate(items, amount, waterfall, as_of)
    got_money = {line.seq for line in result.lines}
    for younger in result.items:
        if younger.seq not in got_money:
            continue
        for older in result.items:
            if (older.due_on, older.seq) < (younger.due_on, younger.seq):
                assert older.is_settled(), (older.seq, younger.seq)


@settings(deadline=None)
@given(account_items(), payments, payments, waterfalls, as_of_dates())
def test_two_payments_on_a_day_leave_the_items_as_one_payment_of_their_sum_would(
    items: list[DueItem], first: Money, second: Money, waterfall: Waterfall, as_of: date
) -> None:
    # the set-based posting relies on this: it allocates the day's running total of payments
    one = allocate(items, first, waterfall, as_of)
    two = allocate(one.items, second, waterfall, as_of) if one.credit.is_zero() else None
    both = allocate(items, first + second, waterfall, as_of)
    if two is None:  # everything was paid by the first: the second is all credit
        assert both.items == one.items
        assert both.credit == one.credit + second
    else:
        assert both.items == two.items
        assert both.credit == two.credit
        assert _by_component([*one.lines, *two.lines]) == _by_component(both.lines)


def _by_component(lines: list[AllocationLine]) -> dict[tuple[int, Component], Money]:
    totals: dict[tuple[int, Component], Money] = {}
    for ln in lines:
        key = (ln.seq, ln.component)
        totals[key] = totals.get(key, Money.zero("CNY")) + ln.amount
    return totals
