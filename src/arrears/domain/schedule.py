"""Repayment schedules of instalment loans, as due items.

Convention 30/360: the monthly rate is the nominal annual rate / 12, whatever the month's
length. Amounts are rounded to the currency's minor unit with ROUND_HALF_UP at every step
(payment, each month's interest); the last instalment absorbs the rounding so the principal
parts sum exactly to the amount lent.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from arrears.domain.errors import DomainError
from arrears.domain.money import Money, quantum, split_evenly
from arrears.domain.products import DueItem

MONTHS_PER_YEAR = 12


class ScheduleInvalid(DomainError):
    pass


def add_months(start: date, months: int) -> date:
    """start moved by months, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    index = start.year * MONTHS_PER_YEAR + (start.month - 1) + months
    year, month0 = divmod(index, MONTHS_PER_YEAR)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last_day))


def monthly_due_dates(first_due_on: date, count: int) -> list[date]:
    """count monthly dates, each computed from first_due_on (Jan 31, Feb 28, Mar 31, ...)."""
    return [add_months(first_due_on, k) for k in range(count)]


def _round(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def _check(principal: Money, annual_rate: Decimal, months: int, fee: Money | None) -> None:
    if principal.amount <= 0:
        raise ScheduleInvalid(f"principal is {principal}; lend a positive amount")
    if months < 1:
        raise ScheduleInvalid(f"a schedule of {months} months is impossible; use at least 1")
    if annual_rate < 0:
        raise ScheduleInvalid(f"annual rate {annual_rate} is negative; give e.g. 0.12 for 12%")
    if fee is not None:
        if fee.currency != principal.currency:
            raise ScheduleInvalid(
                f"fee is in {fee.currency} but the loan is in {principal.currency}; "
                "use one currency"
            )
        if fee.amount < 0:
            raise ScheduleInvalid(f"fee per instalment is {fee}; it must not be negative")


def annuity_payment(principal: Money, annual_rate: Decimal, months: int) -> Money:
    """The level monthly payment P·r / (1 − (1 + r)^−n), r = annual_rate / 12, rounded half up."""
    _check(principal, annual_rate, months, None)
    with localcontext() as ctx:
        ctx.prec = 40
        rate = annual_rate / MONTHS_PER_YEAR
        if rate == 0:
            raw = principal.amount / months
        else:
            raw = principal.amount * rate / (1 - (1 + rate) ** -months)
    return Money(_round(raw, principal.currency), principal.currency)


def annuity_schedule(
    principal: Money,
    annual_rate: Decimal,
    months: int,
    first_due_on: date,
    fee_per_instalment: Money | None = None,
) -> list[DueItem]:
    """Level payments (principal + interest); interest is on the balance at the month's start.

    The last instalment repays the remaining balance exactly (so it may differ by a few minor
    units from the others). A principal part never exceeds the balance, so tiny loans never go
    negative.
    """
    _check(principal, annual_rate, months, fee_per_instalment)
    currency = principal.currency
    payment = annuity_payment(principal, annual_rate, months).amount
    rate = annual_rate / MONTHS_PER_YEAR
    fee = fee_per_instalment or Money.zero(currency)
    balance = principal.amount
    items: list[DueItem] = []
    for k, due_on in enumerate(monthly_due_dates(first_due_on, months)):
        interest = _round(balance * rate, currency)
        last = k == months - 1
        part = balance if last else min(payment - interest, balance)
        balance -= part
        items.append(
            DueItem(
                seq=k + 1,
                due_on=due_on,
                principal=Money(part, currency),
                interest=Money(interest, currency),
                fee=fee,
            )
        )
    return items


def equal_principal_schedule(
    principal: Money,
    annual_rate: Decimal,
    months: int,
    first_due_on: date,
    fee_per_instalment: Money | None = None,
) -> list[DueItem]:
    """Equal principal parts (the last absorbs the rounding) plus interest on the balance."""
    _check(principal, annual_rate, months, fee_per_instalment)
    currency = principal.currency
    rate = annual_rate / MONTHS_PER_YEAR
    fee = fee_per_instalment or Money.zero(currency)
    balance = principal.amount
    items: list[DueItem] = []
    parts = split_evenly(principal, months)
    dates = monthly_due_dates(first_due_on, months)
    for k, (due_on, part) in enumerate(zip(dates, parts, strict=True)):
        interest = _round(balance * rate, currency)
        balance -= part.amount
        items.append(
            DueItem(
                seq=k + 1,
                due_on=due_on,
                principal=part,
                interest=Money(interest, currency),
                fee=fee,
            )
        )
    return items
