"""A case and what happened on it, read for the integrators' API and the borrower's page: the
case, its interactions, promises and plans (with their instalments), in a stable order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from arrears.store import tables as t
from arrears.store.bulk import among


def case_by_id(conn: Connection, case_id: int) -> Any:
    """The case row, or None."""
    return conn.execute(select(t.cases).where(t.cases.c.id == case_id)).first()


def cases_page(conn: Connection, status: str | None, after: int, limit: int) -> list[Any]:
    """Up to `limit` cases with an id above `after`, in id order (optionally of one status)."""
    q = select(t.cases).where(t.cases.c.id > after).order_by(t.cases.c.id).limit(limit)
    if status:
        q = q.where(t.cases.c.status == status)
    return list(conn.execute(q))


def interactions_of(conn: Connection, case_id: int) -> list[Any]:
    i = t.interactions
    return list(
        conn.execute(select(i).where(i.c.case_id == case_id).order_by(i.c.occurred_at, i.c.id))
    )


def promises_of(conn: Connection, case_id: int) -> list[Any]:
    p = t.promises
    return list(conn.execute(select(p).where(p.c.case_id == case_id).order_by(p.c.id)))


def plans_of(conn: Connection, case_id: int) -> list[tuple[Any, list[Any]]]:
    """The case's plans, each with its instalments in order."""
    p, pi = t.plans, t.plan_instalments
    plans = list(conn.execute(select(p).where(p.c.case_id == case_id).order_by(p.c.id)))
    out = []
    for plan in plans:
        inst = list(conn.execute(select(pi).where(pi.c.plan_id == plan.id).order_by(pi.c.seq)))
        out.append((plan, inst))
    return out


def borrower_of_account(conn: Connection, account_id: str) -> str | None:
    """The account's borrower; None when there is no such account."""
    a = t.accounts
    return conn.scalar(select(a.c.borrower_id).where(a.c.id == account_id))


def open_case_of(conn: Connection, borrower_id: str) -> Any:
    """The borrower's open case (id, strategy), or None."""
    c = t.cases
    return conn.execute(
        select(c.c.id, c.c.strategy).where(c.c.borrower_id == borrower_id, c.c.status == "open")
    ).first()


def accounts_of_cases(conn: Connection, case_ids: Sequence[int]) -> dict[int, list[str]]:
    """Each case's accounts (its borrower's), in account id order."""
    c, a = t.cases, t.accounts
    out: dict[int, list[str]] = {}
    if not case_ids:
        return out
    for case_id, account_id in conn.execute(
        select(c.c.id, a.c.id)
        .join(a, a.c.borrower_id == c.c.borrower_id)
        .where(among(conn, c.c.id, list(case_ids)))
        .order_by(a.c.id)
    ):
        out.setdefault(case_id, []).append(account_id)
    return out
