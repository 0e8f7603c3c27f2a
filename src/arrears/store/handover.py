"""Cases the lender has handed over — placed with an external agency, or in legal — are not the
lender's to work: the daily run plans nothing of its own for them (engine/plan_actions.py) and
what it had planned, deferred or queued for them when they were handed over is called off. One
definition of "handed over" for the planner, the dial check and both hand-overs."""

from __future__ import annotations

from sqlalchemy import Connection, Select, select, union_all, update

from arrears.store import tables as t
from arrears.store.tables_agency import placements
from arrears.store.tables_legal import legal_cases


def placed_case_ids() -> Select[tuple[int]]:
    return select(placements.c.case_id).where(placements.c.status == "placed")


def in_legal_case_ids() -> Select[tuple[int]]:
    return select(legal_cases.c.case_id).where(legal_cases.c.ended_on.is_(None))


def is_in_legal(conn: Connection, case_id: int) -> bool:
    live = in_legal_case_ids().where(legal_cases.c.case_id == case_id)
    return conn.execute(live).first() is not None


def handed_over_case_ids() -> Select[tuple[int]]:
    """Every case placed with an agency now or in legal now."""
    both = union_all(placed_case_ids(), in_legal_case_ids()).subquery()
    return select(both.c.case_id)


def call_off(conn: Connection, case_ids: Select[tuple[int]], reason: str) -> int:
    """What the lender had planned, deferred or queued for these cases and not yet sent, in one
    statement each: their messages waiting in the outbox are blocked (one already claimed is in
    flight), the actions cancelled. Returns how many actions were cancelled."""
    a, o = t.actions.c, t.outbox.c
    waiting = select(a.id).where(a.case_id.in_(case_ids), a.status.in_(["queued", "deferred"]))
    conn.execute(
        update(t.outbox)
        .where(o.action_id.in_(waiting), o.status == "pending")
        .values(status="blocked", error=reason)
    )
    return (
        conn.execute(
            update(t.actions)
            .where(a.case_id.in_(case_ids), a.status.in_(["planned", "deferred", "queued"]))
            .values(status="cancelled", reason=reason)
        ).rowcount
        or 0
    )
