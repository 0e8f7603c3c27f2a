"""Plan the day's candidate actions from the seed's default strategy, for every case at once.

Each step is a condition over the open case (`c`), its borrower (`b`) and, for contact steps,
each designated contact (`ct`); one INSERT ... SELECT per step. Rows are unique per case,
date, step, target and channel, so planning again the same day adds only what is new — the
service that records a call outcome re-plans one case to reach its contacts the same day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, bindparam

from arrears.engine.sql import Dialect, dated


@dataclass(frozen=True)
class Step:
    name: str
    channel: str
    template: str
    condition: str  # SQL over c (case), b (borrower) and ct (contact, for contact steps)
    target: str = "borrower"
    priority: int = 50


REMINDER_DAYS = (3, 7, 15, 30)
CALL_DAYS = (3, 7, 15, 30, 45, 60)


def seed_steps(sql: Dialect) -> list[Step]:
    d = sql.date_param("d")
    no_arrangement = (
        "NOT EXISTS (SELECT 1 FROM plans p WHERE p.case_id = c.id AND p.status = 'active') "
        "AND NOT EXISTS (SELECT 1 FROM promises pr WHERE pr.case_id = c.id "
        "AND pr.status = 'open')"
    )
    steps = [
        Step("dpd1_sms", "sms", "reminder_day1", f"c.opened_on = {d}", priority=10),
        Step("dpd1_call", "call", "call_borrower", f"c.opened_on = {d}", priority=10),
        Step(
            "contact_call",
            "call",
            "call_contact",
            f"c.unreachable_on = {d} AND ct.consent AND ct.status = 'active'",
            target="contact",
            priority=15,
        ),
        Step(
            "offer_plan",
            "task",
            "offer_plan",
            "c.hardship IS NOT NULL AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.case_id = c.id "
            "AND p.status IN ('proposed', 'active', 'completed'))",
            priority=20,
        ),
        Step(
            "plan_reminder",
            "sms",
            "plan_instalment_due",
            "EXISTS (SELECT 1 FROM plans p JOIN plan_instalments pi ON pi.plan_id = p.id "
            f"WHERE p.case_id = c.id AND p.status = 'active' AND pi.status = 'pending' "
            f"AND pi.due_on = {sql.add_days(d, '3')})",
            priority=30,
        ),
        Step(
            "plan_missed_call",
            "call",
            "call_plan_missed",
            "EXISTS (SELECT 1 FROM plans p JOIN plan_instalments pi ON pi.plan_id = p.id "
            f"WHERE p.case_id = c.id AND p.status = 'active' AND pi.status <> 'paid' "
            f"AND pi.due_on = {sql.add_days(d, '-1')})",
            priority=20,
        ),
        Step(
            "ptp_reminder",
            "sms",
            "ptp_reminder",
            "EXISTS (SELECT 1 FROM promises pr WHERE pr.case_id = c.id AND pr.status = 'open' "
            f"AND pr.due_on = {sql.add_days(d, '1')})",
            priority=30,
        ),
        Step(
            "ptp_broken_call",
            "call",
            "call_ptp_broken",
            "EXISTS (SELECT 1 FROM promises pr WHERE pr.case_id = c.id AND pr.status = 'broken' "
            f"AND pr.settled_on = {d})",
            priority=20,
        ),
    ]
    steps += [
        Step(
            f"dpd_reminder_{n}", "sms", "reminder", f"c.dpd = {n} AND {no_arrangement}", priority=40
        )
        for n in REMINDER_DAYS
    ]
    steps += [
        Step(
            f"dpd_call_{n}",
            "call",
            "call_borrower",
            f"c.dpd = {n} AND {no_arrangement}",
            priority=40,
        )
        for n in CALL_DAYS
    ]
    return steps


def _insert_sql(sql: Dialect, step: Step, only_cases: bool) -> str:
    d = sql.date_param("d")
    if step.target == "contact":
        source = (
            "cases c JOIN borrowers b ON b.id = c.borrower_id "
            "JOIN contacts ct ON ct.borrower_id = b.id"
        )
        target = "'contact', ct.id"
    else:
        source = "cases c JOIN borrowers b ON b.id = c.borrower_id"
        target = "'borrower', b.id"
    restrict = " AND c.id IN :case_ids" if only_cases else ""
    return f"""INSERT INTO actions (case_id, business_date, step, target_type, target_id, channel,
                                   template, status, priority)
               SELECT c.id, {d}, '{step.name}', {target}, '{step.channel}', '{step.template}',
                      'planned', {step.priority}
               FROM {source}
               WHERE c.status = 'open' AND ({step.condition}){restrict}
               ON CONFLICT DO NOTHING"""


def plan_actions(
    conn: Connection,
    as_of: date,
    strategy: object | None = None,
    case_ids: Sequence[int] | None = None,
) -> int:
    """Insert the day's candidate actions; returns how many are new."""
    sql = Dialect.of(conn)
    planned = 0
    for step in seed_steps(sql):
        stmt = dated(_insert_sql(sql, step, case_ids is not None), "d")
        params: dict[str, object] = {"d": as_of}
        if case_ids is not None:
            stmt = stmt.bindparams(bindparam("case_ids", expanding=True))
            params["case_ids"] = list(case_ids)
        planned += conn.execute(stmt, params).rowcount or 0
    return planned
