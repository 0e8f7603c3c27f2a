"""The collection loop's figures over a period: what the demo prints and the manager reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, text
from sqlalchemy.engine import Row


@dataclass(frozen=True)
class LoopReport:
    accounts: int
    delinquent_by_bucket: dict[str, int]
    cases_opened: int
    cases_cured: int
    day1_reminder_rate: Decimal
    day1_contact_rate: Decimal
    promises_settled: int
    ptp_kept_rate: Decimal
    plans_activated: int
    plans_completed: int
    plans_broken: int
    overdue_at_open: int
    recovered: int
    actions_by_status_rule: list[tuple[str, str, int]]

    @property
    def recovery_rate(self) -> Decimal:
        return _ratio(self.recovered, self.overdue_at_open)


def _ratio(part: int, whole: int) -> Decimal:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else Decimal(0)


def _one(conn: Connection, sql: str, **params: object) -> Row:  # type: ignore[type-arg]
    return conn.execute(text(sql), params).one()


def loop_report(conn: Connection, start: date, end: date) -> LoopReport:
    p = {"start": start, "end": end}
    buckets: dict[str, int] = dict(
        conn.execute(
            text(
                "SELECT bucket, COUNT(*) FROM accounts WHERE behind AND dpd > 0"
                " GROUP BY bucket ORDER BY 1"
            )
        ).all()
    )
    opened, cured = _one(
        conn,
        """SELECT COUNT(*), SUM(CASE WHEN status IN ('cured', 'paid_off') THEN 1 ELSE 0 END)
           FROM cases WHERE opened_on BETWEEN :start AND :end""",
        **p,
    )
    day1_sms = _one(
        conn,
        """SELECT COUNT(DISTINCT c.id) FROM cases c JOIN actions a ON a.case_id = c.id
           WHERE c.opened_on BETWEEN :start AND :end AND a.business_date = c.opened_on
             AND a.channel = 'sms' AND a.status IN ('queued', 'sent', 'delivered')""",
        **p,
    )[0]
    day1_contact = _one(
        conn,
        """SELECT COUNT(DISTINCT c.id) FROM cases c JOIN interactions i ON i.case_id = c.id
           WHERE c.opened_on BETWEEN :start AND :end AND i.business_date = c.opened_on
             AND i.outcome IN ('right_party', 'promise', 'hardship', 'dispute', 'refused',
                               'contact_reached')""",
        **p,
    )[0]
    settled, kept = _one(
        conn,
        """SELECT COUNT(*), SUM(CASE WHEN status = 'kept' THEN 1 ELSE 0 END)
           FROM promises WHERE status <> 'open' AND made_on BETWEEN :start AND :end""",
        **p,
    )
    activated, completed, broken = _one(
        conn,
        """SELECT COUNT(*), SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END),
                  SUM(CASE WHEN status = 'broken' THEN 1 ELSE 0 END)
           FROM plans WHERE activated_on BETWEEN :start AND :end""",
        **p,
    )
    overdue, recovered = _one(
        conn,
        """SELECT COALESCE(SUM(c.overdue_at_open), 0),
                  COALESCE(SUM(CASE WHEN r.paid < c.overdue_at_open THEN r.paid
                                    ELSE c.overdue_at_open END), 0)
           FROM cases c JOIN (
               SELECT c2.id, COALESCE(SUM(p.amount), 0) AS paid
               FROM cases c2 JOIN accounts a ON a.borrower_id = c2.borrower_id
               LEFT JOIN payments p ON p.account_id = a.id AND p.received_on >= c2.opened_on
                                    AND p.received_on <= :end
               GROUP BY c2.id) r ON r.id = c.id
           WHERE c.opened_on BETWEEN :start AND :end""",
        **p,
    )
    by_rule = [
        (status, rule or "-", n)
        for status, rule, n in conn.execute(
            text(
                """SELECT status, rule_id, COUNT(*) FROM actions
                   WHERE business_date BETWEEN :start AND :end
                     AND status IN ('blocked', 'deferred')
                   GROUP BY status, rule_id ORDER BY 1, 3 DESC"""
            ),
            p,
        )
    ]
    return LoopReport(
        accounts=_one(conn, "SELECT COUNT(*) FROM accounts")[0],
        delinquent_by_bucket=buckets,
        cases_opened=opened or 0,
        cases_cured=cured or 0,
        day1_reminder_rate=_ratio(day1_sms, opened or 0),
        day1_contact_rate=_ratio(day1_contact, opened or 0),
        promises_settled=settled or 0,
        ptp_kept_rate=_ratio(kept or 0, settled or 0),
        plans_activated=activated or 0,
        plans_completed=completed or 0,
        plans_broken=broken or 0,
        overdue_at_open=int(overdue),
        recovered=int(recovered),
        actions_by_status_rule=by_rule,
    )
