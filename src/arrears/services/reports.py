"""Read models of what the daily run decided: cases and actions of a business date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, or_, select

from arrears.domain.money import Money
from arrears.store import tables as t


def _money(units: int, currency: str) -> str:
    return str(Money.from_minor(units, currency).amount.quantize(Decimal("0.01")))


def cases_as_of(conn: Connection, as_of: date) -> list[dict[str, Any]]:
    """Cases open on as_of (opened on or before it, not closed before it)."""
    c, a = t.cases, t.accounts
    rows = conn.execute(
        select(c)
        .where(c.c.opened_on <= as_of, or_(c.c.closed_on.is_(None), c.c.closed_on >= as_of))
        .order_by(c.c.id)
    ).all()
    accounts_of: dict[str, list[str]] = {}
    for bid, aid in conn.execute(
        select(a.c.borrower_id, a.c.id)
        .where(a.c.borrower_id.in_({r.borrower_id for r in rows}))
        .order_by(a.c.id)
    ):
        accounts_of.setdefault(bid, []).append(aid)
    return [
        {
            "case_id": r.id,
            "borrower_id": r.borrower_id,
            "account_ids": accounts_of.get(r.borrower_id, []),
            "dpd": r.dpd,
            "bucket": r.bucket,
            "overdue_amount": _money(r.overdue_amount, r.currency),
            "currency": r.currency,
            "status": r.status,
            "opened_on": r.opened_on.isoformat(),
            "closed_on": r.closed_on.isoformat() if r.closed_on else None,
            "variant": r.variant,
            "hardship": r.hardship,
        }
        for r in rows
    ]


def actions_as_of(conn: Connection, as_of: date) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(t.actions).where(t.actions.c.business_date == as_of).order_by(t.actions.c.id)
    ).all()
    return [
        {
            "action_id": r.id,
            "case_id": r.case_id,
            "step": r.step,
            "target_type": r.target_type,
            "target_id": r.target_id,
            "channel": r.channel,
            "template": r.template,
            "status": r.status,
            "rule_id": r.rule_id,
            "reason": r.reason,
            "scheduled_at": r.scheduled_at.isoformat() if r.scheduled_at else None,
        }
        for r in rows
    ]
