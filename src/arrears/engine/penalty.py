"""Daily penalty interest on overdue principal, for every account at once.

Same formula as `arrears.domain.penalty`: principal * rate * days / 365, half up, in minor units;
the rate is capped so that the annual rate plus the penalty rate never exceeds the cap.

Only items already due with principal unpaid accrue; they are found through the partial index of
unpaid items, so the step costs what is in arrears, not the portfolio. The days accrued run from
the account's `penalty_accrued_through` (or the due date) to the business date, less the days
the borrower was in a breathing space: while a `breathing_space` flag holds (from `since` to
`until`, inclusive, and not from the day it is lifted), no penalty accrues. The marker advances
on the accounts with overdue principal only: in the daily run, by the assessment's write of the
account (one write of the row a night); alone (the Spark run's ledger steps), here.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, text

from arrears.engine.config import RunConfig
from arrears.engine.delinquency import marker_before, overdue_unpaid, owed_changed
from arrears.engine.quarantine import (
    PENALTY_OVER,
    PENALTY_PRODUCT_LIMIT,
    QUARANTINED,
    real,
    set_aside,
)
from arrears.store.sql import Dialect, dated, planner, staged

_DENOMINATOR = 365 * 1_000_000
BREATHING_SPACE = "breathing_space"


def breathing_spaces_sql(sql: Dialect) -> str:
    """Per borrower, the breathing spaces up to :d as disjoint runs of days [first, last]
    (overlapping or adjoining flags merged), with `eve` = the day before `first`."""
    d = sql.date_param("d")
    lifted_eve = sql.add_days("f.lifted_on", "-1")
    last = f"{sql.least(f'COALESCE(f.until, {d})', f'COALESCE({lifted_eve}, {d})', d)}"
    reach = (
        "MAX(s.last_day) OVER (PARTITION BY s.borrower_id ORDER BY s.first_day, s.last_day"
        " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    )
    return f"""
        SELECT g.borrower_id, {sql.add_days("MIN(g.first_day)", "-1")} AS eve,
               MAX(g.last_day) AS last_day
        FROM (
            SELECT m.borrower_id, m.first_day, m.last_day,
                   SUM(m.starts) OVER (PARTITION BY m.borrower_id ORDER BY m.first_day, m.last_day
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
            FROM (
                SELECT s.borrower_id, s.first_day, s.last_day,
                       CASE WHEN s.first_day <= {sql.add_days(reach, "1")} THEN 0 ELSE 1 END
                           AS starts
                FROM (
                    SELECT f.borrower_id, f.since AS first_day, {last} AS last_day
                    FROM borrower_flags f
                    WHERE f.flag = '{BREATHING_SPACE}' AND f.since <= {d}
                ) AS s
                WHERE s.last_day >= s.first_day
            ) AS m
        ) AS g
        GROUP BY g.borrower_id, g.run
    """


def accrue_penalty(
    conn: Connection, as_of: date, config: RunConfig, *, assessment_follows: bool = False
) -> int:
    """Accrue the day's penalty; returns the items that accrued. `assessment_follows`: the
    run's assessment, later in the same transaction (`delinquency.open_assessment`), advances
    the marker in its own write of the account and takes the amounts accrued here as changes
    of what the accounts owe."""
    sql = Dialect.of(conn)
    d = sql.date_param("d")
    start = sql.greatest("COALESCE(a.penalty_accrued_through, i.due_on)", "i.due_on")
    rate = sql.greatest(
        "0", sql.least("a.penalty_rate_ppm", f"{config.penalty_cap_ppm} - a.annual_rate_ppm")
    )
    # days t in (b.start, D] that fall in the breathing space [bs.eve + 1, bs.last_day]
    spared_days = sql.greatest(
        "0", sql.days_between("bs.last_day", sql.greatest("b.start", "bs.eve"))
    )
    days = sql.days_between(d, start)
    product = f"{real(sql, 'i.principal')} - {real(sql, 'i.paid_principal')}"
    product = f"({product}) * {real(sql, rate)} * {real(sql, days)}"
    # the integer product below would pass 64 bits: the account is set aside instead
    over = f"CASE WHEN {product} > {PENALTY_PRODUCT_LIMIT} THEN 1 ELSE 0 END"
    base = f"""
        SELECT i.account_id, i.seq, a.borrower_id, i.principal - i.paid_principal AS unpaid,
               {rate} AS rate, {start} AS start, {over} AS over
        FROM due_items i JOIN accounts a ON a.id = i.account_id
        WHERE {overdue_unpaid("i", d)} AND i.principal > i.paid_principal
          AND a.penalty_rate_ppm > 0 AND a.status = 'active'
          AND a.id NOT IN {QUARANTINED}
          AND NOT EXISTS (
              SELECT 1 FROM plans pl JOIN cases c ON c.id = pl.case_id
              WHERE c.borrower_id = a.borrower_id AND pl.status = 'active' AND pl.waive_penalty
          )
    """
    # each overdue item read once, with its borrower's breathing spaces beside it (a join of
    # the spaces to the items in a statement of their own read every overdue item again)
    accrued_days = f"{sql.days_between(d, 'b.start')} - COALESCE(SUM({spared_days}), 0)"
    accruing = f"""
        SELECT b.account_id, b.seq, b.over,
               CASE WHEN b.over = 0 THEN
                   (b.unpaid * b.rate * ({accrued_days}) + {_DENOMINATOR // 2}) / {_DENOMINATOR}
               END AS amount
        FROM ({base}) AS b
        LEFT JOIN ({breathing_spaces_sql(sql)}) AS bs ON bs.borrower_id = b.borrower_id
        GROUP BY b.account_id, b.seq, b.over, b.unpaid, b.rate, b.start
    """
    with planner(conn, jit="off"):
        accrued = _apply(conn, sql, accruing, as_of, keep=assessment_follows)
    if not assessment_follows:  # the few accounts with principal overdue, each found by its key
        with planner(conn, jit="off", enable_hashjoin="off", enable_mergejoin="off"):
            _advance_marker(conn, sql, as_of)
    return accrued


def _offenders(amounts: str) -> str:
    """The accounts of the amounts (a subquery or table) with an item whose product is over."""
    reason = f"'{PENALTY_OVER}' AS reason"
    return f"SELECT DISTINCT o.account_id, {reason} FROM {amounts} AS o WHERE o.over = 1"


def _apply(conn: Connection, sql: Dialect, accruing: str, as_of: date, *, keep: bool) -> int:
    """Add each item's accrued amount to its penalty, but on none of the items of an account
    whose product would pass 64 bits (set aside); returns how many items accrued. `keep`: the
    amounts per account kept for the assessment (`owed_changed`)."""
    per_account = (
        "SELECT acc.account_id, SUM(acc.amount) FROM {} AS acc WHERE acc.amount > 0"
        " GROUP BY acc.account_id"
    )
    update = """UPDATE due_items SET penalty = penalty + acc.amount FROM {} AS acc
                WHERE due_items.account_id = acc.account_id AND due_items.seq = acc.seq"""
    if sql.sqlite:  # one statement: SQLite looks each item up by its key from the amounts
        # then skipped, as every account set aside
        set_aside(conn, as_of, _offenders(f"({accruing})"))
        if keep:  # the amounts made twice: the accrual reads nothing the update writes
            owed_changed(conn, per_account.format(f"({accruing})"), {"d": as_of})
        statement = update.format(f"({accruing})") + " AND acc.amount > 0"
        return conn.execute(dated(statement, "d"), {"d": as_of}).rowcount or 0
    # PostgreSQL, joined to the items inside one statement, found each by its account alone
    # and filtered the account's items by number: the amounts are gathered first, in key
    # order, so the items' new versions also lie together for the assessment that reads them
    gathered = (
        f"SELECT * FROM ({accruing}) AS acc WHERE acc.over = 1 OR acc.amount > 0 ORDER BY 1, 2"
    )
    with staged(conn, "penalty_accrued", gathered, {"d": as_of}, "d") as acc:
        if set_aside(conn, as_of, _offenders(acc)):
            conn.execute(text(f"DELETE FROM {acc} WHERE account_id IN {QUARANTINED}"))
        if keep:
            owed_changed(conn, per_account.format(acc), {})
        return conn.execute(text(update.format(acc))).rowcount or 0


def _advance_marker(conn: Connection, sql: Dialect, as_of: date) -> None:
    d = sql.date_param("d")
    overdue = f"{overdue_unpaid('i', d)} AND i.principal > i.paid_principal"
    behind = f"{marker_before('accounts', d)} AND accounts.id NOT IN {QUARANTINED}"
    if sql.sqlite:  # an IN list: SQLite reads the items through their index
        statement = f"""UPDATE accounts SET penalty_accrued_through = {d}
                        WHERE {behind}
                          AND id IN (SELECT i.account_id FROM due_items i WHERE {overdue})"""
    else:
        statement = f"""UPDATE accounts SET penalty_accrued_through = {d}
                        FROM (SELECT DISTINCT i.account_id FROM due_items i WHERE {overdue}) AS o
                        WHERE accounts.id = o.account_id AND {behind}"""
    conn.execute(dated(statement, "d"), {"d": as_of})
