"""Promises to pay: an amount by a date, settled from the payments received since it was made.

- kept as soon as the payments since the promise reach the amount (even before the due date);
- once the due date has passed (as_of > due_on): partly kept if something but not all was paid,
  broken if nothing was;
- open otherwise. The promise's due date itself still counts: paying on it keeps the promise.

`settle` is a function of what was paid by as_of; the caller records the first final status
and does not ask again (money arriving after a promise broke does not mend it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from arrears.domain.errors import DomainError
from arrears.domain.money import CurrencyMismatch, Money

DEFAULT_MAX_DAYS_AHEAD = 30


class PromiseStatus(StrEnum):
    open = "open"
    kept = "kept"
    partly_kept = "partly_kept"
    broken = "broken"

    @property
    def final(self) -> bool:
        return self is not PromiseStatus.open


class PromiseInvalid(DomainError):
    pass


@dataclass(frozen=True, slots=True)
class PromiseToPay:
    """amount by due_on, made on made_on.

    Checked on creation: a positive amount, due on or after the day it is made, and due at most
    `max_days_ahead` days after it is made (the policy; pass None when loading a promise made
    under an older policy).
    """

    amount: Money
    made_on: date
    due_on: date
    max_days_ahead: int | None = field(default=DEFAULT_MAX_DAYS_AHEAD, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.amount.amount <= 0:
            raise PromiseInvalid(
                f"a promise of {self.amount} is no promise; record a positive amount"
            )
        if self.due_on < self.made_on:
            raise PromiseInvalid(
                f"promise due on {self.due_on} is before the day it was made ({self.made_on}); "
                "pick a date on or after today"
            )
        ahead = (self.due_on - self.made_on).days
        if self.max_days_ahead is not None and ahead > self.max_days_ahead:
            raise PromiseInvalid(
                f"promise due {ahead} days ahead ({self.due_on}); a promise may run at most "
                f"{self.max_days_ahead} days — offer a repayment plan for longer"
            )


def settle(promise: PromiseToPay, paid_since_made: Money, as_of: date) -> PromiseStatus:
    """The promise's status as of `as_of`, given what was paid since it was made."""
    if paid_since_made.currency != promise.amount.currency:
        raise CurrencyMismatch(promise.amount.currency, paid_since_made.currency)
    if paid_since_made.amount < 0:
        raise PromiseInvalid(f"paid amount {paid_since_made} is negative; pass what was received")
    if as_of < promise.made_on:
        raise PromiseInvalid(
            f"cannot settle as of {as_of} a promise made on {promise.made_on}; "
            "settle on or after the day it was made"
        )
    if paid_since_made >= promise.amount:
        return PromiseStatus.kept
    if as_of <= promise.due_on:
        return PromiseStatus.open
    if paid_since_made.is_zero():
        return PromiseStatus.broken
    return PromiseStatus.partly_kept
