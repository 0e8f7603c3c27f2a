"""Accounts the daily run sets aside so that one bad account never stops the night.

Every amount that reaches the platform is bounded at the edge (`AMOUNT_MAX_MINOR`), but rows
stored before a bound existed, or an account with an absurd number of rows, could still take
the run's integer sums or its penalty product past 64 bits: PostgreSQL would fail the whole
run with "bigint out of range", SQLite would turn the figure into an inexact float. Each check
is made, in floating point (which cannot overflow), before the integer arithmetic it guards:

- before anything is posted, one set-based statement checks the accounts whose rows came from
  outside the run since it last looked (payments to post, queued to be assessed again, or
  quarantined already): their due-item and payment totals against `TOTAL_LIMIT`, their penalty
  product against `PENALTY_PRODUCT_LIMIT`;
- the accounts behind are checked by the steps that compute on them, in the read they make
  anyway: the penalty's product by the penalty step (`penalty.py`), their due-item totals by
  the assessment (`delinquency.py`). The items of the accounts behind are the night's largest
  read; the check used to read them a third time.

Those accounts go to `quarantined_accounts` with the reason; the steps skip them (their payments
stay unposted, their figures as they were) and the run report lists them (`held`). An account
whose rows were corrected leaves quarantine on the next run and is assessed again.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, delete, select, text, update

from arrears.store import tables as t
from arrears.store.sql import Dialect, dated, planner, staged

ITEMS_OVER = "its due items total more than the daily run computes exactly"
PAYMENTS_OVER = "its payments total more than the daily run computes exactly"
PENALTY_OVER = "the penalty on its overdue principal is beyond what the daily run computes exactly"

# An account's due-item total or payment total above this many minor units (10 trillion of a
# two-decimal currency) is set aside: below it every sum the run makes over an account, a
# borrower or a case stays exact.
TOTAL_LIMIT = 10**15
# The penalty step multiplies unpaid principal, rate (ppm) and days in 64-bit integers.
PENALTY_PRODUCT_LIMIT = 4 * 10**18

# the statements of the steps skip the accounts listed here
QUARANTINED = "(SELECT q.account_id FROM quarantined_accounts q)"


def real(sql: Dialect, expr: str) -> str:
    """expr as a floating-point number: a product or sum of it cannot overflow."""
    return f"CAST({expr} AS {'REAL' if sql.sqlite else 'DOUBLE PRECISION'})"


def item_total(sql: Dialect, alias: str) -> str:
    """What the item amounts to, before any payment, in floating point."""
    return " + ".join(
        real(sql, f"{alias}.{c}") for c in ("principal", "interest", "fee", "penalty")
    )


TOUCHED = "tmp_touched"  # the temporary table `staged` makes of "touched"
# When the night touches at least this share of the accounts (a book reassessed whole), every
# account's sums are made in one pass, as the assessment does then (`ASSESS_ALL_SHARE`).
EVERY_SHARE = 0.2
# PostgreSQL's memory for each sort or hash of a statement over every due item (per process:
# the run and its parallel helpers), instead of the server's default of a few megabytes
WHOLE_BOOK_WORK_MEM = "256MB"


def count_accounts(conn: Connection) -> int:
    """How many accounts: PostgreSQL's estimate once it has one (a count reads every row),
    otherwise (SQLite, or a table never analysed) a count."""
    if not Dialect.of(conn).sqlite:
        estimate = conn.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = CAST('accounts' AS regclass)")
        ).scalar()
        if estimate is not None and estimate > 0:
            return int(estimate)
    return int(conn.execute(text("SELECT COUNT(*) FROM accounts")).scalar_one())


def _touched_sql(sql: Dialect, *, behind: bool) -> str:
    """The accounts to check: payments to post, queued to be assessed again, or quarantined
    already; with `behind`, those with items overdue too."""
    d = sql.date_param("d")
    overdue = f"UNION SELECT account_id FROM due_items WHERE open_due_on < {d}" if behind else ""
    return f"""
        SELECT p.account_id AS id FROM payments p
        WHERE p.posted_on IS NULL AND p.received_on <= {d}
        UNION
        SELECT u.account_id FROM unassessed_accounts u
        UNION
        SELECT q.account_id FROM quarantined_accounts q
        {overdue}"""


def _offenders_sql(sql: Dialect, *, every: bool = False) -> str:
    """The touched accounts (in `TOUCHED`) whose sums would pass the limits. `every`: most
    accounts are touched (a book reassessed whole), so every account's sums are made in one pass
    and only the offenders kept, rather than each touched account's looked up."""
    d = sql.date_param("d")
    overdue = (
        f"i.due_on < {d} AND i.principal > i.paid_principal"  # principal overdue: penalty base
    )
    start = "CASE WHEN a.penalty_accrued_through > i.due_on THEN a.penalty_accrued_through " + (
        "ELSE i.due_on END"
    )
    days = sql.days_between(d, start)

    def r(expr: str) -> str:
        return real(sql, expr)

    total = item_total(sql, "i")
    penalty = (
        f"CASE WHEN {overdue} THEN ({r('i.principal')} - {r('i.paid_principal')})"
        f" * {r('a.penalty_rate_ppm')} * {days} ELSE 0 END"
    )

    def among(column: str) -> str:
        return "" if every else "WHERE " + sql.among(column, TOUCHED)

    items_over = paid_over = ""
    if every:
        items_over = f"HAVING SUM({total}) > {TOTAL_LIMIT} " + (
            f"OR MAX({penalty}) > {PENALTY_PRODUCT_LIMIT}"
        )
        paid_over = f"HAVING SUM({r('p.amount')}) > {TOTAL_LIMIT}"
    # the touched accounts taken from the array, each one's items found by its key: with the
    # array on the items too, PostgreSQL once looked up each account's items under the whole
    # array again, sorted anew for every account (ten million accounts: over seven minutes)
    return f"""
        WITH items AS (
            SELECT i.account_id, SUM({total}) AS total, MAX({penalty}) AS penalty
            FROM due_items i JOIN accounts a ON a.id = i.account_id
            {among("a.id")}
            GROUP BY i.account_id {items_over}
        ),
        paid AS (
            SELECT p.account_id, SUM({r("p.amount")}) AS total
            FROM payments p
            {among("p.account_id")}
            GROUP BY p.account_id {paid_over}
        )
        SELECT touched.id AS account_id,
               CASE WHEN items.total > {TOTAL_LIMIT} THEN '{ITEMS_OVER}'
                    WHEN paid.total > {TOTAL_LIMIT} THEN '{PAYMENTS_OVER}'
                    WHEN items.penalty > {PENALTY_PRODUCT_LIMIT} THEN '{PENALTY_OVER}'
               END AS reason
        FROM {TOUCHED} touched
        LEFT JOIN items ON items.account_id = touched.id
        LEFT JOIN paid ON paid.account_id = touched.id
        WHERE items.total > {TOTAL_LIMIT} OR paid.total > {TOTAL_LIMIT}
           OR items.penalty > {PENALTY_PRODUCT_LIMIT}
    """


def quarantine(conn: Connection, as_of: date, *, behind: bool = False) -> int:
    """Set aside the accounts the run cannot compute as of as_of, release the corrected ones;
    returns how many are set aside. `behind`: check the accounts behind here too (a run whose
    assessment is not the database's, the Spark run's)."""
    sql = Dialect.of(conn)
    # gathered first and analysed: as a CTE, PostgreSQL guessed 200 accounts where a first
    # day touches every one, and looked up each account's items one by one
    with staged(conn, "touched", _touched_sql(sql, behind=behind), {"d": as_of}, "d"):
        touched = conn.execute(text(f"SELECT COUNT(*) FROM {TOUCHED}")).scalar_one()
        every = touched >= EVERY_SHARE * count_accounts(conn)
        with planner(conn, **({"work_mem": WHOLE_BOOK_WORK_MEM} if every else {})):
            found = {
                row.account_id: row.reason
                for row in conn.execute(dated(_offenders_sql(sql, every=every), "d"), {"d": as_of})
            }
    q = t.quarantined_accounts
    held = set(conn.execute(select(q.c.account_id)).scalars())
    released = sorted(held - set(found))
    if released:
        conn.execute(delete(q).where(q.c.account_id.in_(released)))
        # assessed afresh by this run: its figures are those of before the quarantine
        conn.execute(
            update(t.accounts).where(t.accounts.c.id.in_(released)).values(state_as_of=None)
        )
    new = [
        {"account_id": aid, "since": as_of, "reason": reason}
        for aid, reason in sorted(found.items())
        if aid not in held
    ]
    if new:
        conn.execute(q.insert(), new)
    return len(found)


def set_aside(conn: Connection, as_of: date, offenders: str) -> int:
    """Set aside the accounts `offenders` selects (account_id, reason) that a step found it
    cannot compute, unless set aside already; returns how many it set aside now."""
    sql = Dialect.of(conn)
    statement = f"""INSERT INTO quarantined_accounts (account_id, since, reason)
                    SELECT o.account_id, {sql.date_param("d")}, o.reason FROM ({offenders}) AS o
                    WHERE o.account_id NOT IN {QUARANTINED}"""
    return conn.execute(dated(statement, "d"), {"d": as_of}).rowcount or 0


def held(conn: Connection) -> dict[str, str]:
    """The accounts set aside (id -> reason, with the date they were first set aside), as the
    run report lists them."""
    q = t.quarantined_accounts
    rows = conn.execute(select(q.c.account_id, q.c.since, q.c.reason).order_by(q.c.account_id))
    return {
        row.account_id: f"{row.reason} (set aside since {row.since}); correct its rows"
        for row in rows
    }
