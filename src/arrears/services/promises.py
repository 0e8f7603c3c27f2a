"""Record a borrower's promise to pay; the daily run decides whether it was kept."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, insert, select

from arrears.domain.money import CurrencyMismatch, Money
from arrears.domain.promises import PromiseToPay
from arrears.services.outcomes import CaseNotFound
from arrears.store import tables as t


def record_promise(
    conn: Connection, *, case_id: int, amount: Money, due_on: date, made_on: date, agent: str | None
) -> int:
    case = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).one_or_none()
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    if amount.currency != case.currency:
        raise CurrencyMismatch(case.currency, amount.currency)
    promise = PromiseToPay(amount=amount, made_on=made_on, due_on=due_on)
    return int(
        conn.execute(
            insert(t.promises)
            .values(
                case_id=case_id,
                made_on=promise.made_on,
                due_on=promise.due_on,
                amount=promise.amount.to_minor(),
                currency=promise.amount.currency,
                status="open",
                made_by=agent,
            )
            .returning(t.promises.c.id)
        ).scalar_one()
    )
