"""Due items: components, paid parts, waivers; card statements as due items."""

from __future__ import annotations

from datetime import date

import pytest

from arrears.domain.money import CurrencyMismatch, Money
from arrears.domain.products import (
    Component,
    ComponentOverpaid,
    DueItem,
    DueItemInvalid,
    Product,
    card_statement_item,
)

D = date(2024, 3, 10)


def cny(text: str) -> Money:
    return Money.of(text, "CNY")


def test_enums_are_the_stored_words() -> None:
    assert [str(p) for p in Product] == ["instalment_loan", "credit_card", "instalment_purchase"]
    assert [str(c) for c in Component] == ["penalty", "fee", "interest", "principal"]


def test_defaults_are_zero_in_the_items_currency() -> None:
    item = DueItem(1, D, Money.of(1000, "JPY"))
    assert item.interest == Money.of(0, "JPY")
    assert item.paid_penalty == Money.of(0, "JPY")
    assert item.waived == Money.of(0, "JPY")
    assert item.outstanding() == Money.of(1000, "JPY")


def test_outstanding_is_due_less_settled() -> None:
    item = DueItem(1, D, cny("100"), cny("10"), cny("5"), cny("3"), paid_principal=cny("20"))
    assert item.total_due() == cny("118")
    assert item.outstanding() == cny("98")
    assert item.outstanding_of(Component.principal) == cny("80")
    assert item.outstanding_of(Component.penalty) == cny("3")
    assert sum((item.outstanding_of(c) for c in Component), cny("0")) == item.outstanding()


def test_a_waiver_settles_the_component_and_is_noted_apart_from_cash() -> None:
    # penalty 10 of which 4 paid in cash; a plan forgives the rest of penalty and all interest
    item = DueItem(1, D, cny("100"), cny("10"), penalty=cny("10"), paid_penalty=cny("4"))
    forgiven = item.with_waived(Component.penalty).with_waived(Component.interest)
    assert forgiven.waived == cny("16")
    assert (forgiven.paid_penalty, forgiven.paid_interest) == (cny("10"), cny("10"))
    assert forgiven.outstanding() == cny("100")
    assert forgiven.outstanding_of(Component.penalty).is_zero()
    assert forgiven.cash_paid() == cny("4")
    # as the ledger stores it after a plan's write-off
    stored = DueItem(
        1, D, cny("100"), cny("10"), penalty=cny("10"),
        paid_penalty=cny("10"), paid_interest=cny("10"), waived=cny("16"),
    )  # fmt: skip
    assert stored == forgiven


def test_with_paid_returns_a_new_item_and_refuses_overpayment() -> None:
    item = DueItem(1, D, cny("100"), cny("10"))
    paid = item.with_paid(Component.interest, cny("10"))
    assert paid.paid_interest == cny("10") and item.paid_interest == cny("0")
    assert paid.with_paid(Component.principal, cny("100")).is_settled()
    with pytest.raises(ComponentOverpaid, match=r"only 0\.00 CNY is outstanding"):
        paid.with_paid(Component.interest, cny("0.01"))
    with pytest.raises(DueItemInvalid, match="negative"):
        item.with_paid(Component.fee, cny("-1"))
    with pytest.raises(CurrencyMismatch):
        item.with_paid(Component.fee, Money.of(1, "USD"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interest": Money.of(1, "USD")}, "cannot combine"),
        ({"fee": Money.of(-1, "CNY")}, "never negative"),
        ({"paid_interest": Money.of("10.01", "CNY")}, "only 10.00 CNY was due"),
        ({"waived": Money.of("0.01", "CNY")}, "only 0.00 CNY is settled"),
    ],
)
def test_inconsistent_items_are_refused(kwargs: dict[str, Money], message: str) -> None:
    base: dict[str, Money] = {"interest": cny("10")}
    with pytest.raises(ValueError, match=message):
        DueItem(1, D, cny("100"), **{**base, **kwargs})


def test_card_statement_due_item_is_the_minimum_due() -> None:
    item = card_statement_item(7, D, cny("350"), cny("5000"), interest=cny("80"), fee=cny("20"))
    assert (item.seq, item.due_on) == (7, D)
    assert (item.fee, item.interest, item.principal) == (cny("20"), cny("80"), cny("250"))
    assert item.outstanding() == cny("350")  # the revolving 4650 is not in arrears


def test_card_minimum_smaller_than_charges_covers_fee_then_interest() -> None:
    item = card_statement_item(1, D, cny("50"), cny("900"), interest=cny("80"), fee=cny("20"))
    assert (item.fee, item.interest, item.principal) == (cny("20"), cny("30"), cny("0"))


def test_card_minimum_above_balance_is_refused() -> None:
    with pytest.raises(DueItemInvalid, match="exceeds the statement balance"):
        card_statement_item(1, D, cny("501"), cny("500"))
