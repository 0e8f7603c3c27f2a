"""Penalty interest on overdue principal.

The penalty rate is capped so that the total annualised cost (contract rate + penalty rate)
never exceeds the cap (24% by default, the ceiling Chinese courts support).

Accrual is simple daily interest, actual/365: overdue principal × rate × days / 365, rounded
ROUND_HALF_UP to the minor unit. The set-based daily run computes the same thing in integer
minor units with the rate in parts per million:

    (p * rate_ppm * days + 182_500_000) // 365_000_000

(`accrue_penalty_minor` below is that formula; the tests prove the two agree.)
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from arrears.domain.errors import DomainError
from arrears.domain.money import Money, quantum

DEFAULT_CAP = Decimal("0.24")
DAYS_PER_YEAR = 365
PPM = 1_000_000
_DENOMINATOR = DAYS_PER_YEAR * PPM  # 365_000_000


class PenaltyInputInvalid(DomainError):
    pass


def effective_penalty_rate(
    annual_rate: Decimal, penalty_rate: Decimal, cap: Decimal = DEFAULT_CAP
) -> Decimal:
    """max(0, min(penalty_rate, cap − annual_rate)): annual + penalty never above cap."""
    for name, value in (("annual rate", annual_rate), ("penalty rate", penalty_rate), ("cap", cap)):
        if value < 0:
            raise PenaltyInputInvalid(f"{name} {value} is negative; give e.g. 0.18 for 18%")
    return max(Decimal(0), min(penalty_rate, cap - annual_rate))


def accrue_penalty(overdue_principal: Money, rate: Decimal, days: int) -> Money:
    """Penalty for `days` days on overdue_principal at the annual `rate` (actual/365, half up)."""
    if overdue_principal.amount < 0:
        raise PenaltyInputInvalid(
            f"overdue principal is {overdue_principal}; penalty accrues on a positive amount"
        )
    if rate < 0:
        raise PenaltyInputInvalid(f"penalty rate {rate} is negative")
    if days < 0:
        raise PenaltyInputInvalid(f"cannot accrue over {days} days; the period runs forward")
    raw = overdue_principal.amount * rate * days / DAYS_PER_YEAR
    currency = overdue_principal.currency
    return Money(raw.quantize(quantum(currency), rounding=ROUND_HALF_UP), currency)


def rate_to_ppm(rate: Decimal) -> int:
    """A rate as stored: parts per million (0.18 -> 180000); finer rates are an error."""
    scaled = rate * PPM
    if scaled != scaled.to_integral_value():
        raise PenaltyInputInvalid(f"rate {rate} is finer than one part per million; round it")
    return int(scaled)


def accrue_penalty_minor(principal_minor: int, rate_ppm: int, days: int) -> int:
    """The daily run's integer formula (minor units, rate in ppm), half up."""
    if principal_minor < 0 or rate_ppm < 0 or days < 0:
        raise PenaltyInputInvalid("principal, rate and days must not be negative")
    return (principal_minor * rate_ppm * days + _DENOMINATOR // 2) // _DENOMINATOR
