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
