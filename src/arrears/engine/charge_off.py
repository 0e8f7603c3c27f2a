"""Charge-off: accounts reaching the charge-off DPD leave the books, for every account at once.

An active account whose DPD reaches its product's charge-off DPD (`RunConfig.charge_off_dpd_of`,
180 by default) is charged off on the business date: its balance (all items, due or not) is
written off in `write_offs` (reason `charge_off`, amount and currency), its status becomes
`charged_off` — the penalty step accrues nothing more on it and the assessment keeps its
figures — and a case left with no other account past due shows `charged_off`, still open
(`closed_on` empty) for recovery. Payments posted afterwards are recoveries: they settle the
items as ever, and refresh the charged-off account's outstanding balance here; a charged-off
case whose balance is all recovered closes `paid_off`.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from arrears.engine.config import RunConfig
from arrears.engine.quarantine import QUARANTINED
from arrears.store.sql import Dialect, dated

CHARGE_OFF = "charge_off"  # the write-off's reason
CHARGED_OFF = "charged_off"  # the account's and the case's status
_OWED = (
    "(i.principal + i.interest + i.fee + i.penalty"
    " - i.paid_principal - i.paid_interest - i.paid_fee - i.paid_penalty)"
)


def _threshold(config: RunConfig) -> str:
    """The charge-off DPD of an account's product, as an SQL expression."""
    whens = " ".join(
        f"WHEN '{product}' THEN {dpd}"
        for product, dpd in sorted(config.charge_off_dpd_by_product.items())
    )
    return (
        f"(CASE a.product {whens} ELSE {config.charge_off_dpd} END)"
        if whens
        else (str(config.charge_off_dpd))
    )


def charge_off(conn: Connection, as_of: date, config: RunConfig) -> int:
    """Charge off the accounts reaching their charge-off DPD today; returns how many."""
    sql = Dialect.of(conn)
    d = sql.date_param("d")
    params = {"d": as_of}
    charged = (
        conn.execute(
            dated(
                f"""INSERT INTO write_offs
                        (account_id, reason, business_date, case_id, currency, amount, dpd)
                    SELECT a.id, '{CHARGE_OFF}', {d},
                           (SELECT MAX(c.id) FROM cases c
                            WHERE c.borrower_id = a.borrower_id AND c.status = 'open'),
                           a.currency, a.outstanding, a.dpd
                    FROM accounts a
                    WHERE a.behind AND a.dpd >= {_threshold(config)} AND a.dpd > 0
                      AND a.status = 'active'
                      AND a.id NOT IN {QUARANTINED}
                    ON CONFLICT DO NOTHING""",
                "d",
            ),
            params,
        ).rowcount
        or 0
    )
    today = f"""(SELECT w.account_id FROM write_offs w
                 WHERE w.reason = '{CHARGE_OFF}' AND w.business_date = {d})"""
    conn.execute(
        dated(
            f"""UPDATE accounts SET status = '{CHARGED_OFF}'
                WHERE status = 'active' AND id IN {today}""",
            "d",
        ),
        params,
    )
    _charge_off_cases(conn, d, today, params)
    _recoveries(conn, sql, as_of)
    return charged


def _charge_off_cases(conn: Connection, d: str, today: str, params: dict[str, date]) -> None:
    """The open cases of today's accounts show `charged_off` once nothing else is past due."""
    conn.execute(
        dated(
            f"""UPDATE cases SET status = 'charged_off'
                WHERE status = 'open'
                  AND borrower_id IN (SELECT a.borrower_id FROM accounts a WHERE a.id IN {today})
                  AND NOT EXISTS (SELECT 1 FROM accounts a
                                  WHERE a.borrower_id = cases.borrower_id
                                    AND a.status = 'active' AND a.behind AND a.dpd > 0)""",
            "d",
        ),
        params,
    )


def _recoveries(conn: Connection, sql: Dialect, as_of: date) -> None:
    """Payments posted today on charged-off accounts: their balance follows what is left owed;
    a charged-off case with nothing left owed closes `paid_off`."""
    d = sql.date_param("d")
    params = {"d": as_of}
    conn.execute(
        dated(
            f"""UPDATE accounts SET outstanding = o.owed
                FROM (SELECT i.account_id, SUM({_OWED}) AS owed FROM due_items i
                      WHERE i.account_id IN (SELECT a.id FROM accounts a
                                             JOIN payments p ON p.account_id = a.id
                                             WHERE p.posted_on = {d}
                                               AND a.status = '{CHARGED_OFF}')
                      GROUP BY i.account_id) AS o
                WHERE accounts.id = o.account_id AND accounts.status = '{CHARGED_OFF}'""",
            "d",
        ),
        params,
    )
    conn.execute(
        dated(
            f"""UPDATE cases SET status = 'paid_off', closed_on = {d}
                WHERE status = 'charged_off' AND closed_on IS NULL
                  AND borrower_id IN (SELECT a.borrower_id FROM accounts a
                                      JOIN payments p ON p.account_id = a.id
                                      WHERE p.posted_on = {d} AND a.status = '{CHARGED_OFF}')
                  AND NOT EXISTS (SELECT 1 FROM accounts a
                                  WHERE a.borrower_id = cases.borrower_id
                                    AND a.status IN ('{CHARGED_OFF}', 'active')
                                    AND a.outstanding > 0)""",
            "d",
        ),
        params,
    )
