"""Daily penalty interest on overdue principal, for every account at once.

Same formula as `arrears.domain.penalty`: principal * rate * days / 365, half up, in minor units;
the rate is capped so that the annual rate plus the penalty rate never exceeds the cap.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from arrears.engine.config import RunConfig
from arrears.engine.sql import Dialect, dated

_DENOMINATOR = 365 * 1_000_000


def accrue_penalty(conn: Connection, as_of: date, config: RunConfig) -> int:
    sql = Dialect.of(conn)
    d = sql.date_param("d")
    start = sql.greatest("COALESCE(a.penalty_accrued_through, i.due_on)", "i.due_on")
    days = sql.days_between(d, start)
    rate = sql.greatest(
        "0", sql.least("a.penalty_rate_ppm", f"{config.penalty_cap_ppm} - a.annual_rate_ppm")
    )
    accruing = f"""
        SELECT i.account_id, i.seq,
               ((i.principal - i.paid_principal) * {rate} * {days} + {_DENOMINATOR // 2})
                   / {_DENOMINATOR} AS amount
        FROM due_items i JOIN accounts a ON a.id = i.account_id
        WHERE i.due_on < {d} AND i.principal > i.paid_principal AND a.penalty_rate_ppm > 0
          AND a.status = 'active'
          AND NOT EXISTS (
              SELECT 1 FROM plans pl JOIN cases c ON c.id = pl.case_id
              WHERE c.borrower_id = a.borrower_id AND pl.status = 'active' AND pl.waive_penalty
          )
    """
    result = conn.execute(
        dated(
            f"""UPDATE due_items SET penalty = penalty + acc.amount
                FROM ({accruing}) AS acc
                WHERE due_items.account_id = acc.account_id AND due_items.seq = acc.seq
                  AND acc.amount > 0""",
            "d",
        ),
        {"d": as_of},
    )
    conn.execute(
        dated(
            f"""UPDATE accounts SET penalty_accrued_through = {d}
                WHERE (penalty_accrued_through IS NULL OR penalty_accrued_through < {d})
                  AND id IN (SELECT account_id FROM due_items
                             WHERE due_on < {d} AND principal > paid_principal)""",
            "d",
        ),
        {"d": as_of},
    )
    return result.rowcount or 0
