"""Payment allocation: which component of which due item a payment pays.

Order (both waterfalls): first the items due on or before `as_of`, oldest first; then the items
not yet due (an overpayment pays ahead); what is left after every item is paid becomes the
account's credit balance. Items are taken one at a time: an item is paid in full before the
next one gets anything; the waterfall only sets the order of components within an item. Items
are ordered by (due_on, seq) — for a schedule that is seq order — the same order the set-based
posting in the daily run uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from arrears.domain.errors import DomainError
from arrears.domain.money import CurrencyMismatch, Money
from arrears.domain.products import Component, DueItem


class Waterfall(StrEnum):
    oldest_first_penalty_fee_interest_principal = "oldest_first_penalty_fee_interest_principal"
    interest_principal_penalty_fee = "interest_principal_penalty_fee"


DEFAULT_WATERFALL = Waterfall.oldest_first_penalty_fee_interest_principal

COMPONENT_ORDER: dict[Waterfall, tuple[Component, ...]] = {
    Waterfall.oldest_first_penalty_fee_interest_principal: (
        Component.penalty,
        Component.fee,
        Component.interest,
        Component.principal,
    ),
    Waterfall.interest_principal_penalty_fee: (
        Component.interest,
        Component.principal,
        Component.penalty,
        Component.fee,
    ),
}


class PaymentAmountInvalid(DomainError):
    def __init__(self, amount: Money) -> None:
        super().__init__(
            f"cannot allocate a payment of {amount}; a payment is a positive amount "
            "(record a refund or reversal instead)"
        )


@dataclass(frozen=True, slots=True)
class AllocationLine:
    seq: int
    component: Component
    amount: Money


@dataclass(frozen=True, slots=True)
class Allocation:
    lines: list[AllocationLine]
    items: list[DueItem]  # the items after the payment, in the order they were given
    credit: Money  # left over once every item is paid

    def allocated(self) -> Money:
        """What went to due items (the payment less the credit)."""
        return sum((line.amount for line in self.lines), Money.zero(self.credit.currency))


def payment_order(items: Sequence[DueItem], as_of: date) -> list[int]:
    """Indexes of items in the order a payment reaches them."""
    due = sorted(
        (i for i, item in enumerate(items) if item.due_on <= as_of),
        key=lambda i: (items[i].due_on, items[i].seq),
    )
    ahead = sorted(
        (i for i, item in enumerate(items) if item.due_on > as_of),
        key=lambda i: (items[i].due_on, items[i].seq),
    )
    return due + ahead


def allocate(
    items: Sequence[DueItem],
    amount: Money,
    waterfall: Waterfall,
    as_of: date,
) -> Allocation:
    """Allocate one payment received on `as_of` across the account's due items."""
    for item in items:
        if item.currency != amount.currency:
            raise CurrencyMismatch(item.currency, amount.currency)
    if amount.amount <= 0:
        raise PaymentAmountInvalid(amount)
    updated = list(items)
    lines: list[AllocationLine] = []
    left = amount
    for index in payment_order(items, as_of):
        if left.is_zero():
            break
        item = updated[index]
        for component in COMPONENT_ORDER[waterfall]:
            share = left.min(item.outstanding_of(component))
            if share.is_zero():
                continue
            item = item.with_paid(component, share)
            lines.append(AllocationLine(item.seq, component, share))
            left = left - share
        updated[index] = item
    return Allocation(lines=lines, items=updated, credit=left)
