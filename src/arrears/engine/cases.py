"""Open a case for each newly delinquent borrower, refresh open cases, close cured ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

from arrears.store.sql import Dialect, dated, planner, staged
from arrears.store.tables import PHONE_UNUSABLE


@dataclass(frozen=True)
class CaseChanges:
    opened: int
    closed: int


# a case's borrower has accounts (a case with none is left as it is)
_HAS_ACCOUNTS = "EXISTS (SELECT 1 FROM accounts a WHERE a.borrower_id = cases.borrower_id)"


def update_cases(conn: Connection, as_of: date) -> CaseChanges:
    # the statements are short: JIT compilation would cost more than it saves (the planner's
    # joins are left to it: right after the day's cases open, its statistics of cases are stale
    # and forced key look-ups went from seconds to most of a minute)
    with planner(conn, jit="off"):
        return _update_cases(conn, as_of)


def _update_cases(conn: Connection, as_of: date) -> CaseChanges:
    sql = Dialect.of(conn)
    d = sql.date_param("d")
    # The borrowers to open a case for are gathered first, then inserted: a statement that
    # reads `cases` while it inserts into it rescans the pages it has just written (a first
    # day opening 20,000 cases took 4.7 s that way, 100,000 over a minute). They have no open
    # case, in this transaction, and one row each: no ON CONFLICT, whose check of each row
    # before it is written cost PostgreSQL 0.4 s of 1.5 s for 100,000 cases.
    with staged(
        conn,
        "new_cases",
        """SELECT a.borrower_id, MIN(a.currency) AS currency, SUM(a.overdue_amount) AS overdue,
                  MAX(a.dpd) AS dpd, MAX(a.bucket) AS bucket
           FROM accounts a
           WHERE a.behind AND a.dpd > 0 AND a.status NOT IN ('charged_off', 'sold')
             AND NOT EXISTS (SELECT 1 FROM cases c
                             WHERE c.borrower_id = a.borrower_id AND c.status = 'open')
           GROUP BY a.borrower_id""",
    ) as new:
        opened = conn.execute(
            dated(
                f"""INSERT INTO cases (borrower_id, opened_on, status, currency, overdue_at_open,
                                       dpd, bucket, overdue_amount, strategy, variant, queue)
                    SELECT n.borrower_id, {d}, 'open', n.currency, n.overdue, n.dpd, n.bucket,
                           n.overdue, 'seed', 'champion', 'early'
                    FROM {new} n ORDER BY n.borrower_id""",
                "d",
            ),
            {"d": as_of},
        ).rowcount
    if opened and sql.name == "postgresql":
        # the planner's figures of `cases` still say none are open: it would aggregate the
        # accounts once per open case below (a first day's cost in the square of its cases)
        conn.execute(text("ANALYZE cases"))
    # The figures of the borrowers behind, from their accounts behind (read through their
    # index): an account that is not behind adds nothing to a case's DPD, bucket or amount
    # overdue. Ten million accounts: the 619,000 behind read, not all ten million.
    with staged(
        conn,
        "case_figures",
        """SELECT borrower_id, MAX(dpd) AS dpd, MAX(bucket) AS bucket,
                  SUM(overdue_amount) AS overdue
           FROM accounts WHERE behind GROUP BY borrower_id""",
    ) as figures:
        conn.execute(
            text(
                f"""UPDATE cases
                    SET dpd = agg.dpd, bucket = agg.bucket, overdue_amount = agg.overdue
                    FROM {figures} agg
                    WHERE cases.borrower_id = agg.borrower_id AND cases.status = 'open'
                      AND (cases.dpd <> agg.dpd OR cases.overdue_amount <> agg.overdue)"""
            )
        )
        # caught up: none of the borrower's accounts is behind any more
        conn.execute(
            text(
                # NOT IN, not a correlated NOT EXISTS: SQLite read the figures once per case
                f"""UPDATE cases SET dpd = 0, bucket = 'M0', overdue_amount = 0
                    WHERE status = 'open' AND (dpd <> 0 OR overdue_amount <> 0)
                      AND borrower_id NOT IN (SELECT agg.borrower_id FROM {figures} agg)
                      AND {_HAS_ACCOUNTS}"""
            )
        )
    # every open case now carries its borrower's figures: one at DPD 0 closes, paid off when
    # nothing is owed on any account, else cured (a borrower on an active plan stays open)
    closed = conn.execute(
        dated(
            f"""UPDATE cases SET
                    status = CASE WHEN (SELECT SUM(a.outstanding) FROM accounts a
                                        WHERE a.borrower_id = cases.borrower_id) <= 0
                                  THEN 'paid_off' ELSE 'cured' END,
                    closed_on = {d}
                WHERE status = 'open' AND dpd = 0 AND {_HAS_ACCOUNTS}
                  AND NOT EXISTS (SELECT 1 FROM plans p
                                  WHERE p.case_id = cases.id AND p.status = 'active')""",
            "d",
        ),
        {"d": as_of},
    ).rowcount
    # A borrower whose own number is known wrong is unreachable from the first day.
    conn.execute(
        dated(
            f"""UPDATE cases SET unreachable_on = {d}
                WHERE status = 'open'
                  AND (unreachable_on IS NULL OR unreachable_on < {d})
                  AND EXISTS (SELECT 1 FROM borrowers b
                              WHERE b.id = cases.borrower_id
                                AND b.{PHONE_UNUSABLE})""",
            "d",
        ),
        {"d": as_of},
    )
    return CaseChanges(opened=opened or 0, closed=closed or 0)
