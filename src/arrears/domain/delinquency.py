"""Delinquency of one account: days past due (DPD), bucket, overdue and outstanding amounts.

This is the scalar reference of the set-based daily run: for the same due items and business
date both must give the same figures.

Definitions, as of business date D:
- an item is **overdue** when its due date is before D: an item due on D is not yet overdue;
  the day after its due date it is 1 day past due;
- **overdue** = outstanding of the overdue items; **outstanding** = outstanding of all items;
- the **tolerance** (default one major unit: 1.00 CNY, 1 JPY) absorbs small residues, oldest
  first: walking the overdue items oldest first (due_on, seq) and summing their outstanding,
  the DPD is counted from the due date of the first item at which that running sum exceeds the
  tolerance. DPD is 0 exactly when the whole overdue amount is within the tolerance.

Without residues this is simply "days since the oldest unpaid overdue item". The running sum
matters when an old item keeps a residue within the tolerance (say 0.50) and a younger one is
missed: the account is then 1 day past due on the first day, not as old as the residue — so
DPD only ever grows one day at a time (it never jumps from 0 to 40 overnight), and a payment
never raises it. In SQL: SUM(outstanding) OVER (PARTITION BY account ORDER BY due_on, seq), the
smallest due_on whose running sum exceeds the tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from arrears.domain.errors import DomainError
from arrears.domain.money import CurrencyMismatch, Money
from arrears.domain.products import DueItem


class BucketSchemeInvalid(DomainError):
    pass


class DelinquencyInputInvalid(DomainError):
    pass


@dataclass(frozen=True, slots=True)
class BucketRange:
    label: str
    low: int  # DPD, inclusive
    high: int | None  # DPD, inclusive; None = no upper bound


@dataclass(frozen=True, slots=True)
class BucketScheme:
    """Buckets by DPD: M0 is current (DPD 0); then one bucket per upper bound; then overflow.

    `upper_bounds` are the inclusive upper DPD bounds of the delinquent buckets, increasing:
    (30, 60, 90) gives M0 = 0, M1 = 1–30, M2 = 31–60, M3 = 61–90, M4+ = 91 and above.
    """

    upper_bounds: tuple[int, ...]
    current_label: str = "M0"

    def __post_init__(self) -> None:
        if not self.upper_bounds:
            raise BucketSchemeInvalid("give at least one upper bound, e.g. (30, 60, 90)")
        previous = 0
        for bound in self.upper_bounds:
            if bound <= previous:
                raise BucketSchemeInvalid(
                    f"bucket bounds {self.upper_bounds} must be positive and strictly increasing"
                )
            previous = bound

    @classmethod
    def from_upper_bounds(cls, bounds: Sequence[int]) -> BucketScheme:
        return cls(tuple(bounds))

    def ranges(self) -> list[BucketRange]:
        """Every bucket with its inclusive DPD range, for building the SQL CASE expression."""
        out = [BucketRange(self.current_label, 0, 0)]
        low = 1
        for n, bound in enumerate(self.upper_bounds, start=1):
            out.append(BucketRange(f"M{n}", low, bound))
            low = bound + 1
        out.append(BucketRange(f"M{len(self.upper_bounds) + 1}+", low, None))
        return out

    def bucket_of(self, dpd: int) -> str:
        if dpd < 0:
            raise DelinquencyInputInvalid(f"DPD {dpd} is negative; DPD counts days from 0")
        for bucket in self.ranges():
            if bucket.high is None or dpd <= bucket.high:
                return bucket.label
        raise AssertionError(dpd)  # pragma: no cover - the overflow bucket has no bound


DEFAULT_BUCKETS = BucketScheme((30, 60, 90, 120, 150, 180))


def default_tolerance(currency: str) -> Money:
    """One major unit of the currency (1.00 CNY, 1 JPY)."""
    return Money.of(1, currency)


@dataclass(frozen=True, slots=True)
class AccountDelinquency:
    dpd: int
    bucket: str
    overdue: Money
    outstanding: Money
    oldest_overdue_on: date | None = None  # due date the DPD counts from; None when DPD 0

    @property
    def delinquent(self) -> bool:
        return self.dpd > 0


def _days_past_due(
    dated_outstanding: Sequence[tuple[date, int, Money]], as_of: date, tolerance: Money
) -> tuple[int, date | None]:
    """DPD from (due_on, seq, outstanding) rows: running sum, oldest first, beyond tolerance."""
    running = tolerance - tolerance
    for due_on, _seq, outstanding in sorted(
        (row for row in dated_outstanding if row[0] < as_of), key=lambda row: (row[0], row[1])
    ):
        running = running + outstanding
        if running > tolerance:
            return (as_of - due_on).days, due_on
    return 0, None


def assess(
    items: Sequence[DueItem],
    as_of: date,
    tolerance: Money | None = None,
    buckets: BucketScheme = DEFAULT_BUCKETS,
) -> AccountDelinquency:
    """DPD, bucket, overdue and outstanding of one account's items as of `as_of`."""
    if items:
        currency = items[0].currency
    elif tolerance is not None:
        currency = tolerance.currency
    else:
        raise DelinquencyInputInvalid(
            "an account without due items has no currency; pass tolerance= to give it one"
        )
    for item in items:
        if item.currency != currency:
            raise CurrencyMismatch(currency, item.currency)
    tol = default_tolerance(currency) if tolerance is None else tolerance
    if tol.currency != currency:
        raise CurrencyMismatch(currency, tol.currency)
    if tol.amount < 0:
        raise DelinquencyInputInvalid(f"tolerance {tol} is negative; use 0 for none")
    zero = Money.zero(currency)
    overdue = sum((i.outstanding() for i in items if i.due_on < as_of), zero)
    outstanding = sum((i.outstanding() for i in items), zero)
    dpd, since = _days_past_due([(i.due_on, i.seq, i.outstanding()) for i in items], as_of, tol)
    return AccountDelinquency(
        dpd=dpd,
        bucket=buckets.bucket_of(dpd),
        overdue=overdue,
        outstanding=outstanding,
        oldest_overdue_on=since,
    )


class Instalment(Protocol):
    """What DPD needs of a plan instalment."""

    @property
    def seq(self) -> int: ...

    @property
    def due_on(self) -> date: ...

    def outstanding(self) -> Money: ...


def plan_days_past_due(
    instalments: Sequence[Instalment], as_of: date, tolerance: Money | None = None
) -> int:
    """DPD of an account re-aged under a repayment plan: days since the due date of the oldest
    plan instalment due before `as_of` that is still unpaid (beyond `tolerance`, default zero:
    a plan is tracked to the minor unit)."""
    if not instalments:
        return 0
    currency = instalments[0].outstanding().currency
    tol = Money.zero(currency) if tolerance is None else tolerance
    rows = [(i.due_on, i.seq, i.outstanding()) for i in instalments]
    return _days_past_due(rows, as_of, tol)[0]
