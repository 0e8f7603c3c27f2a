"""Charge-offs and recoveries, reported apart from collections.

A recovery is a payment on a charged-off account booked (posted) after the day it was charged
off. The report lists, per account, what came in between two dates and what of it went to the
balance (the rest, paid beyond the balance, is the borrower's credit), with totals per currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, and_, func, select

from arrears.store import tables as t
from arrears.store.tables_late import write_offs


class RecoveryPeriodInvalid(ValueError):
    def __init__(self, start: date, end: date) -> None:
        super().__init__(f"--from {start} is after --to {end}; give the earlier date first")


@dataclass(frozen=True)
class Recovery:
    account_id: str
    currency: str
    charged_off_on: date
    charged_off: int  # minor units written off at charge-off
    payments: int
    recovered: int  # minor units received in the period
    applied: int  # of those, what went to the balance


@dataclass(frozen=True)
class RecoveryTotal:
    currency: str
    accounts: int
    payments: int
    recovered: int
    applied: int


def recoveries(conn: Connection, start: date, end: date) -> list[Recovery]:
    """Per charged-off account, the payments booked from start to end (inclusive)."""
    if start > end:
        raise RecoveryPeriodInvalid(start, end)
    p, w = t.payments, write_offs
    applied = (
        select(func.coalesce(func.sum(t.allocations.c.amount), 0))
        .where(t.allocations.c.payment_id == p.c.id, t.allocations.c.seq > 0)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(
            w.c.account_id,
            w.c.currency,
            w.c.business_date,
            w.c.amount,
            func.count(p.c.id),
            func.sum(p.c.amount),
            func.sum(applied),
        )
        .select_from(
            w.join(
                p,
                and_(p.c.account_id == w.c.account_id, p.c.posted_on > w.c.business_date),
            )
        )
        .where(w.c.reason == "charge_off", p.c.posted_on >= start, p.c.posted_on <= end)
        .group_by(w.c.account_id, w.c.currency, w.c.business_date, w.c.amount)
        .order_by(w.c.currency, w.c.account_id)
    ).all()
    return [
        Recovery(
            account_id=r[0],
            currency=r[1],
            charged_off_on=_day(r[2]),
            charged_off=int(r[3]),
            payments=int(r[4]),
            recovered=int(r[5]),
            applied=int(r[6]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class WriteOff:
    account_id: str
    reason: str  # charge_off | settlement
    business_date: date
    case_id: int | None
    offer_id: int | None
    currency: str
    amount: int
    dpd: int


def write_offs_between(
    conn: Connection, start: date, end: date, *, offset: int = 0, limit: int = 1000
) -> list[WriteOff]:
    """The write-offs booked from start to end (inclusive), by date and account: what the
    lender's ledger books as charged off or forgiven."""
    if start > end:
        raise RecoveryPeriodInvalid(start, end)
    w = write_offs.c
    rows = conn.execute(
        select(
            w.account_id,
            w.reason,
            w.business_date,
            w.case_id,
            w.offer_id,
            w.currency,
            w.amount,
            w.dpd,
        )
        .where(w.business_date >= start, w.business_date <= end)
        .order_by(w.business_date, w.account_id, w.reason)
        .offset(offset)
        .limit(limit)
    ).all()
    return [WriteOff(r[0], r[1], _day(r[2]), r[3], r[4], r[5], int(r[6]), int(r[7])) for r in rows]


def totals(found: list[Recovery]) -> list[RecoveryTotal]:
    """Per currency, never summed across currencies."""
    by: dict[str, list[Recovery]] = {}
    for r in found:
        by.setdefault(r.currency, []).append(r)
    return [
        RecoveryTotal(
            currency=cur,
            accounts=len(rs),
            payments=sum(r.payments for r in rs),
            recovered=sum(r.recovered for r in rs),
            applied=sum(r.applied for r in rs),
        )
        for cur, rs in sorted(by.items())
    ]


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
