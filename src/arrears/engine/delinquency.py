"""DPD, bucket, overdue and outstanding amounts of every account, in a few statements.

DPD as of D counts days from the due date of the oldest item due before D at which the running
overdue, oldest first, passes the tolerance (as `arrears.domain.delinquency.assess` does); it is
0 while the total overdue is within the tolerance. An account whose borrower keeps an active
repayment plan is re-aged: its DPD is that of the plan's oldest unpaid instalment.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from arrears.engine.config import RunConfig
from arrears.engine.sql import Dialect, dated

_OWED = (
    "(i.principal + i.interest + i.fee + i.penalty"
    " - i.paid_principal - i.paid_interest - i.paid_fee - i.paid_penalty)"
)


def assess_accounts(conn: Connection, as_of: date, config: RunConfig) -> int:
    sql = Dialect.of(conn)
    d = sql.date_param("d")
    dpd = sql.days_between(d, "agg.oldest_due")
    new_dpd = f"CASE WHEN agg.oldest_due IS NOT NULL THEN {dpd} ELSE 0 END"
    status = "CASE WHEN agg.outstanding <= 0 THEN 'paid_off' ELSE 'active' END"
    # DPD counts from the oldest item at which the running overdue, oldest first, passes the
    # tolerance: a small residue on an old item does not age a later miss.
    overdue_part = f"CASE WHEN i.due_on < {d} THEN {_OWED} ELSE 0 END"
    running = f"""
        SELECT i.account_id, i.due_on, {_OWED} AS owed, {overdue_part} AS overdue_part,
               SUM({overdue_part}) OVER (PARTITION BY i.account_id ORDER BY i.due_on, i.seq
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                   AS running
        FROM due_items i
    """
    agg = f"""
        SELECT r.account_id, SUM(r.overdue_part) AS overdue, SUM(r.owed) AS outstanding,
               MIN(CASE WHEN r.due_on < {d} AND r.overdue_part > 0
                         AND r.running > {config.tolerance_minor} THEN r.due_on END) AS oldest_due
        FROM ({running}) AS r GROUP BY r.account_id
    """
    changed = conn.execute(
        dated(
            f"""UPDATE accounts SET
                    dpd = {new_dpd},
                    bucket = {config.bucket_case(new_dpd)},
                    overdue_amount = agg.overdue,
                    outstanding = agg.outstanding,
                    status = {status},
                    state_as_of = {d}
                FROM ({agg}) AS agg
                WHERE accounts.id = agg.account_id AND accounts.status <> 'charged_off'""",
            "d",
        ),
        {"d": as_of},
    ).rowcount
    _reage_under_plans(conn, sql, as_of, config)
    conn.execute(
        dated(
            f"""INSERT INTO delinquency_history (account_id, as_of, dpd, bucket, overdue_amount)
                SELECT id, {d}, dpd, bucket, overdue_amount FROM accounts WHERE dpd > 0
                ON CONFLICT DO NOTHING""",
            "d",
        ),
        {"d": as_of},
    )
    return changed or 0


def _reage_under_plans(conn: Connection, sql: Dialect, as_of: date, config: RunConfig) -> None:
    d = sql.date_param("d")
    plan_dpd = sql.days_between(d, "pd.oldest_due")
    plan_dpd_or_zero = f"COALESCE({plan_dpd}, 0)"
    conn.execute(
        dated(
            f"""UPDATE accounts SET
                    dpd = {plan_dpd_or_zero},
                    bucket = {config.bucket_case(plan_dpd_or_zero)}
                FROM (
                    SELECT c.borrower_id,
                           MIN(CASE WHEN pi.status <> 'paid' AND pi.due_on < {d}
                                    THEN pi.due_on END) AS oldest_due
                    FROM plans pl
                    JOIN cases c ON c.id = pl.case_id
                    JOIN plan_instalments pi ON pi.plan_id = pl.id
                    WHERE pl.status = 'active'
                    GROUP BY c.borrower_id
                ) AS pd
                WHERE accounts.borrower_id = pd.borrower_id AND accounts.dpd > 0""",
            "d",
        ),
        {"d": as_of},
    )
