"""Decide promises and plan instalments from the payments received, for every case at once.

Same rules as `arrears.domain.promises.settle` and `arrears.domain.plans.paid_towards` /
`track`: a promise is kept as soon as the payments since it was made cover it, and after its
date partly kept or broken. Plan instalments are paid in order from what was paid towards the
plan: the allocations, from payments received since the plan became active, to the due items it
covers (those due before it was proposed) — not regular instalments falling due meanwhile, not
credit, not other accounts' items. One unpaid beyond its grace days breaks the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from arrears.engine.quarantine import QUARANTINED
from arrears.store.sql import Dialect, dated


@dataclass(frozen=True)
class SettlementChanges:
    promises_settled: int
    plans_completed: int
    plans_broken: int


def _paid_since(sql: Dialect, since: str, case_alias: str) -> str:
    d = sql.date_param("d")
    return f"""(SELECT COALESCE(SUM(p.amount), 0) FROM payments p
                JOIN accounts a ON a.id = p.account_id
                WHERE a.borrower_id = {case_alias}.borrower_id
                  AND p.received_on >= {since} AND p.received_on <= {d}
                  AND p.account_id NOT IN {QUARANTINED})"""


def settle(conn: Connection, as_of: date) -> SettlementChanges:
    sql = Dialect.of(conn)
    promises_settled = _settle_promises(conn, sql, as_of)
    return SettlementChanges(promises_settled, **_track_plans(conn, sql, as_of))


def _settle_promises(conn: Connection, sql: Dialect, as_of: date) -> int:
    d = sql.date_param("d")
    paid = _paid_since(sql, "pr.made_on", "c")
    return (
        conn.execute(
            dated(
                f"""UPDATE promises SET
                        paid_amount = s.paid,
                        status = CASE WHEN s.paid >= s.amount THEN 'kept'
                                      WHEN s.paid > 0 THEN 'partly_kept'
                                      ELSE 'broken' END,
                        settled_on = {d}
                    FROM (SELECT pr.id, pr.amount, pr.due_on, {paid} AS paid
                          FROM promises pr JOIN cases c ON c.id = pr.case_id
                          WHERE pr.status = 'open') AS s
                    WHERE promises.id = s.id
                      AND (s.paid >= s.amount OR s.due_on < {d})""",
                "d",
            ),
            {"d": as_of},
        ).rowcount
        or 0
    )


def _paid_towards_plan(sql: Dialect) -> str:
    d = sql.date_param("d")
    return f"""(SELECT COALESCE(SUM(al.amount), 0) FROM allocations al
                JOIN payments p ON p.id = al.payment_id
                JOIN due_items di ON di.account_id = al.account_id AND di.seq = al.seq
                JOIN accounts a ON a.id = al.account_id
                WHERE a.borrower_id = c.borrower_id AND di.due_on < pl.proposed_on
                  AND p.received_on >= pl.activated_on AND p.received_on <= {d})"""


def _track_plans(conn: Connection, sql: Dialect, as_of: date) -> dict[str, int]:
    d = sql.date_param("d")
    paid = _paid_towards_plan(sql)
    covered = sql.least("t.amount", sql.greatest("0", "t.paid - (t.cum - t.amount)"))
    late = f"{sql.days_between(d, 't.due_on')} > t.grace_days"
    running = f"""
        SELECT pi.plan_id, pi.seq, pi.amount, pi.due_on, pl.grace_days, {paid} AS paid,
               SUM(pi.amount) OVER (PARTITION BY pi.plan_id ORDER BY pi.seq
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
        FROM plan_instalments pi
        JOIN plans pl ON pl.id = pi.plan_id
        JOIN cases c ON c.id = pl.case_id
        WHERE pl.status = 'active'
    """
    conn.execute(
        dated(
            f"""UPDATE plan_instalments SET
                    paid_amount = s.covered,
                    status = CASE WHEN s.covered >= s.amount THEN 'paid'
                                  WHEN s.late = 1 THEN 'missed' ELSE 'pending' END
                FROM (SELECT t.plan_id, t.seq, t.amount, {covered} AS covered,
                             CASE WHEN {late} THEN 1 ELSE 0 END AS late
                      FROM ({running}) AS t) AS s
                WHERE plan_instalments.plan_id = s.plan_id AND plan_instalments.seq = s.seq""",
            "d",
        ),
        {"d": as_of},
    )
    broken = conn.execute(
        dated(
            f"""UPDATE plans SET status = 'broken', ended_on = {d}
                WHERE status = 'active' AND EXISTS (
                    SELECT 1 FROM plan_instalments pi
                    WHERE pi.plan_id = plans.id AND pi.status = 'missed')""",
            "d",
        ),
        {"d": as_of},
    ).rowcount
    completed = conn.execute(
        dated(
            f"""UPDATE plans SET status = 'completed', ended_on = {d}
                WHERE status = 'active' AND NOT EXISTS (
                    SELECT 1 FROM plan_instalments pi
                    WHERE pi.plan_id = plans.id AND pi.status <> 'paid')""",
            "d",
        ),
        {"d": as_of},
    ).rowcount
    return {"plans_completed": completed or 0, "plans_broken": broken or 0}
