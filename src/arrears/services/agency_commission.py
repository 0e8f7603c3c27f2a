"""Commission on what agencies recovered: every payment received on a placed case's accounts
while it was placed (from the day it was placed, up to the day before it was recalled) earns
the agency the rate of its tier — chosen by the case's DPD when placed, or by how many days it
had been placed when the payment came in. Each payment's commission is rounded half-up to the
currency's minor unit; a month's figure is the sum of those, per agency, currency and tier.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP

from sqlalchemy import Connection, and_, or_, select

from arrears.domain.money import Money
from arrears.services.agencies import Tier, TierBasis, list_agencies
from arrears.store import tables as t
from arrears.store.tables_agency import placements

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class MonthInvalid(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(f"{text!r} is not a month; write YYYY-MM, e.g. 2026-11")


@dataclass(frozen=True)
class Recovered:
    """One payment on a placed case: what the tier is chosen by, and the amount."""

    agency_id: str
    case_id: int
    payment_id: str
    received_on: date
    days: int  # DPD when placed, or days placed when received (the agency's basis)
    amount: int  # minor units
    currency: str


@dataclass(frozen=True)
class CommissionLine:
    agency_id: str
    currency: str
    tier: Tier
    payments: int
    recovered: int  # minor units
    commission: int  # minor units


def month_span(text: str) -> tuple[date, date]:
    """The first and the last day of `YYYY-MM`."""
    m = MONTH.match(text.strip())
    if m is None:
        raise MonthInvalid(text)
    first = date(int(m.group(1)), int(m.group(2)), 1)
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def tier_for(tiers: Sequence[Tier], days: int) -> Tier:
    """The tier with the latest start on or before `days` (tiers start at day 0)."""
    chosen = tiers[0]
    for tier in tiers:
        if tier.from_days <= days:
            chosen = tier
    return chosen


def commission_of(amount: int, currency: str, tier: Tier) -> int:
    """One payment's commission in minor units, rounded half-up."""
    earned = Money.from_minor(amount, currency) * tier.rate
    return earned.rounded(ROUND_HALF_UP).to_minor()


def lines(
    recovered: Iterable[Recovered], tiers: dict[str, tuple[Tier, ...]]
) -> list[CommissionLine]:
    """Sum the payments' commissions per agency, currency and tier (pure)."""
    acc: dict[tuple[str, str, int], tuple[Tier, int, int, int]] = {}
    for r in recovered:
        tier = tier_for(tiers[r.agency_id], r.days)
        key = (r.agency_id, r.currency, tier.from_days)
        _, n, total, earned = acc.get(key, (tier, 0, 0, 0))
        earned += commission_of(r.amount, r.currency, tier)
        acc[key] = (tier, n + 1, total + r.amount, earned)
    return [
        CommissionLine(agency, currency, tier, n, total, earned)
        for (agency, currency, _), (tier, n, total, earned) in sorted(acc.items())
    ]


def recovered_in(conn: Connection, first: date, last: date) -> list[Recovered]:
    """Payments received between `first` and `last` on cases while they were placed."""
    p, c, a, pay = placements.c, t.cases.c, t.accounts.c, t.payments.c
    basis = {ag.id: ag.basis for ag in list_agencies(conn)}
    rows = conn.execute(
        select(
            p.agency_id,
            p.case_id,
            p.placed_on,
            p.dpd_at_placement,
            pay.id,
            pay.received_on,
            pay.amount,
            pay.currency,
        )
        .select_from(placements)
        .join(t.cases, c.id == p.case_id)
        .join(t.accounts, and_(a.borrower_id == c.borrower_id, a.currency == c.currency))
        .join(t.payments, pay.account_id == a.id)
        .where(
            pay.received_on >= first,
            pay.received_on <= last,
            pay.received_on >= p.placed_on,
            or_(p.recalled_on.is_(None), pay.received_on < p.recalled_on),
        )
        .order_by(p.agency_id, pay.received_on, pay.id)
    )
    out = []
    for r in rows:
        received, placed = _day(r.received_on), _day(r.placed_on)
        by_dpd = basis[r.agency_id] is TierBasis.DPD
        days = r.dpd_at_placement if by_dpd else (received - placed).days
        out.append(Recovered(r.agency_id, r.case_id, r.id, received, days, r.amount, r.currency))
    return out


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def monthly(conn: Connection, month: str) -> list[CommissionLine]:
    """`arrears agency commission --month 2026-11`: each agency's commission for the month."""
    first, last = month_span(month)
    tiers = {ag.id: ag.tiers for ag in list_agencies(conn)}
    return lines(recovered_in(conn, first, last), tiers)
