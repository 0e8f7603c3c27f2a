"""Writes and reads the API makes on the core tables (thin; the daily run does the work)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from arrears.domain.money import Money
from arrears.store import tables as t


def upsert(conn: Connection, table: Table, keys: Sequence[str], values: Mapping[str, Any]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE — one statement on both databases."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values)
    changes = {k: stmt.excluded[k] for k in values if k not in keys}
    if changes:
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))
    else:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=list(keys)))


def amount(minor: int, currency: str) -> str:
    return f"{Money.from_minor(int(minor), currency).amount}"


def case_row(conn: Connection, case_id: int) -> Any:
    return conn.execute(select(t.cases).where(t.cases.c.id == case_id)).first()


def list_cases(conn: Connection, status: str | None, after: int, limit: int) -> list[Any]:
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
    p, pi = t.plans, t.plan_instalments
    plans = list(conn.execute(select(p).where(p.c.case_id == case_id).order_by(p.c.id)))
    out = []
    for plan in plans:
        inst = list(conn.execute(select(pi).where(pi.c.plan_id == plan.id).order_by(pi.c.seq)))
        out.append((plan, inst))
    return out
