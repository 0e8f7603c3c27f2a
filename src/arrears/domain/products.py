"""Products and their due items: every credit facility is normalised into dated due items.

A due item is what one instalment (or one card statement) asks of the borrower on one date,
split into components, with what has been settled of each component. Items are immutable;
paying returns a new item.

A waiver (a repayment plan forgiving penalty or interest) settles the component like a payment
does — it is recorded in `paid_<component>` — and the forgiven amount is noted in `waived`, so
`waived` is the part of the paid amounts that no money came in for (`cash_paid()` excludes it).
The ledger and the daily run store it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from arrears.domain.errors import DomainError
from arrears.domain.money import CurrencyMismatch, Money


class Product(StrEnum):
    instalment_loan = "instalment_loan"
    credit_card = "credit_card"
    instalment_purchase = "instalment_purchase"


class Component(StrEnum):
    """The parts of a due item, in the order the default waterfall pays them."""

    penalty = "penalty"
    fee = "fee"
    interest = "interest"
    principal = "principal"


class DueItemInvalid(DomainError):
    pass


class ComponentOverpaid(DomainError):
    def __init__(self, seq: int, component: Component, amount: Money, outstanding: Money) -> None:
        super().__init__(
            f"cannot pay {amount} of {component} on due item {seq}: only {outstanding} is "
            "outstanding; send the rest to the next item or to the credit balance"
        )


# Sentinel default: a field left at this object means "zero in the item's currency".
_ZERO_DEFAULT = Money(Decimal(0), "CNY")


@dataclass(frozen=True, slots=True)
class DueItem:
    """One dated demand of an account.

    `paid_*` include what a plan waived; `waived` says how much of them was forgiven rather
    than paid. Amounts left at their default are zero in the currency of `principal`.
    """

    seq: int
    due_on: date
    principal: Money
    interest: Money = _ZERO_DEFAULT
    fee: Money = _ZERO_DEFAULT
    penalty: Money = _ZERO_DEFAULT
    paid_principal: Money = _ZERO_DEFAULT
    paid_interest: Money = _ZERO_DEFAULT
    paid_fee: Money = _ZERO_DEFAULT
    paid_penalty: Money = _ZERO_DEFAULT
    waived: Money = _ZERO_DEFAULT

    def __post_init__(self) -> None:
        currency = self.principal.currency
        for name in _MONEY_FIELDS:
            value: Money = getattr(self, name)
            if value is _ZERO_DEFAULT:
                object.__setattr__(self, name, Money.zero(currency))
            elif value.currency != currency:
                raise CurrencyMismatch(currency, value.currency)
            elif value.amount < 0:
                raise DueItemInvalid(
                    f"due item {self.seq}: {name} is {value}; amounts are never negative"
                )
        for component in Component:
            if self.paid(component) > self.due(component):
                raise DueItemInvalid(
                    f"due item {self.seq}: paid {self.paid(component)} of {component} but only "
                    f"{self.due(component)} was due; move the excess to another item"
                )
        if self.waived > self.total_paid():
            raise DueItemInvalid(
                f"due item {self.seq}: waived {self.waived} but only {self.total_paid()} is "
                "settled; a waiver settles the component (paid_*) and is noted in waived"
            )

    @property
    def currency(self) -> str:
        return self.principal.currency

    def due(self, component: Component) -> Money:
        amount: Money = getattr(self, str(component))
        return amount

    def paid(self, component: Component) -> Money:
        amount: Money = getattr(self, f"paid_{component}")
        return amount

    def total_due(self) -> Money:
        return self.principal + self.interest + self.fee + self.penalty

    def total_paid(self) -> Money:
        return self.paid_principal + self.paid_interest + self.paid_fee + self.paid_penalty

    def cash_paid(self) -> Money:
        """What the borrower actually paid: the settled amounts less the waiver."""
        return self.total_paid() - self.waived

    def outstanding_of(self, component: Component) -> Money:
        return self.due(component) - self.paid(component)

    def outstanding(self) -> Money:
        return self.total_due() - self.total_paid()

    def with_waived(self, component: Component) -> DueItem:
        """This item with the unpaid part of component forgiven (settled, noted in waived)."""
        forgiven = self.outstanding_of(component)
        return replace(self.with_paid(component, forgiven), waived=self.waived + forgiven)

    def is_settled(self) -> bool:
        return self.outstanding().is_zero()

    def with_paid(self, component: Component, amount: Money) -> DueItem:
        """This item with `amount` more paid on component; more than is outstanding is an error."""
        if amount.currency != self.currency:
            raise CurrencyMismatch(self.currency, amount.currency)
        if amount.amount < 0:
            raise DueItemInvalid(f"cannot pay a negative amount ({amount}) on due item {self.seq}")
        outstanding = self.outstanding_of(component)
        if amount > outstanding:
            raise ComponentOverpaid(self.seq, component, amount, outstanding)
        paid = self.paid(component) + amount
        if component is Component.principal:
            return replace(self, paid_principal=paid)
        if component is Component.interest:
            return replace(self, paid_interest=paid)
        if component is Component.fee:
            return replace(self, paid_fee=paid)
        return replace(self, paid_penalty=paid)


_MONEY_FIELDS = (
    "principal",
    "interest",
    "fee",
    "penalty",
    "paid_principal",
    "paid_interest",
    "paid_fee",
    "paid_penalty",
    "waived",
)


def card_statement_item(
    seq: int,
    due_on: date,
    minimum_due: Money,
    statement_balance: Money,
    *,
    interest: Money | None = None,
    fee: Money | None = None,
) -> DueItem:
    """Normalise one credit-card statement into one due item.

    Choice: the due item is the statement's **minimum due**, because that is what becomes
    overdue if unpaid on the due date; the rest of the statement balance revolves (it is not in
    arrears, and the card's next statement carries it). The minimum covers the statement's fee
    first, then its interest (as card minimum-payment formulas do); whatever remains of the
    minimum is principal. So a missed minimum makes the account delinquent for exactly the
    minimum, and the revolving balance never counts as overdue.
    """
    currency = minimum_due.currency
    if statement_balance.currency != currency:
        raise CurrencyMismatch(currency, statement_balance.currency)
    zero = Money.zero(currency)
    if minimum_due < zero or statement_balance < zero:
        raise DueItemInvalid(
            f"statement {seq}: minimum due {minimum_due} and balance {statement_balance} "
            "must not be negative"
        )
    if minimum_due > statement_balance:
        raise DueItemInvalid(
            f"statement {seq}: minimum due {minimum_due} exceeds the statement balance "
            f"{statement_balance}; the minimum is part of the balance"
        )
    fee_part = (fee or zero).min(minimum_due)
    interest_part = (interest or zero).min(minimum_due - fee_part)
    if fee_part < zero or interest_part < zero:
        raise DueItemInvalid(f"statement {seq}: fee and interest must not be negative")
    principal = minimum_due - fee_part - interest_part
    return DueItem(
        seq=seq, due_on=due_on, principal=principal, interest=interest_part, fee=fee_part
    )
