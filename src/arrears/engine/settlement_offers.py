"""Settlement offers decided from the payments received, for every offer at once.

Same rules as `arrears.domain.settlement_offers`: what counts towards an offer is every payment
on the case's accounts in the offer's currency received from the day it was proposed to its due
date. An approved offer so paid in full settles: the remainder of those accounts' balances is
forgiven (recorded on the items as a waiver, and in `write_offs` with reason `settlement`), the
accounts are assessed again (paid off) and the case closes `settled`. An offer whose due date
passed without that, approved or still waiting for approval, lapses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from arrears.engine.quarantine import QUARANTINED
from arrears.store.sql import Dialect, dated

SETTLEMENT = "settlement"  # the write-off's reason
_LIVE = "('proposed', 'approved')"
_COMPONENTS = ("principal", "interest", "fee", "penalty")
_UNPAID = " + ".join(f"(i.{c} - i.paid_{c})" for c in _COMPONENTS)


@dataclass(frozen=True)
class OfferChanges:
    settled: int
    lapsed: int


def decide_offers(conn: Connection, as_of: date) -> OfferChanges:
    sql = Dialect.of(conn)
    d = sql.date_param("d")
    params = {"d": as_of}
    _count_paid(conn, sql, as_of)
    settled = (
        conn.execute(
            dated(
                f"""UPDATE settlement_offers SET status = 'settled', ended_on = {d}
                    WHERE status = 'approved' AND paid_amount >= amount""",
                "d",
            ),
            params,
        ).rowcount
        or 0
    )
    _settle(conn, sql, as_of)
    lapsed = (
        conn.execute(
            dated(
                f"""UPDATE settlement_offers SET status = 'lapsed', ended_on = {d}
                    WHERE status IN {_LIVE} AND due_on < {d}""",
                "d",
            ),
            params,
        ).rowcount
        or 0
    )
    return OfferChanges(settled=settled, lapsed=lapsed)


def _count_paid(conn: Connection, sql: Dialect, as_of: date) -> None:
    d = sql.date_param("d")
    until = sql.least(d, "o.due_on")
    conn.execute(
        dated(
            f"""UPDATE settlement_offers SET paid_amount = s.paid
                FROM (SELECT o.id, (SELECT COALESCE(SUM(p.amount), 0)
                                    FROM payments p
                                    JOIN accounts a ON a.id = p.account_id
                                    WHERE a.borrower_id = c.borrower_id
                                      AND a.currency = o.currency
                                      AND p.posted_on IS NOT NULL
                                      AND p.received_on >= o.proposed_on
                                      AND p.received_on <= {until}) AS paid
                      FROM settlement_offers o JOIN cases c ON c.id = o.case_id
                      WHERE o.status IN {_LIVE}) AS s
                WHERE settlement_offers.id = s.id
                  AND settlement_offers.paid_amount <> s.paid""",
            "d",
        ),
        {"d": as_of},
    )


def _settling_accounts(d: str) -> str:
    """Account id, case and offer of every account an offer settled on :d."""
    return f"""
        SELECT a.id AS account_id, o.case_id, o.id AS offer_id, a.currency, a.dpd
        FROM settlement_offers o
        JOIN cases c ON c.id = o.case_id
        JOIN accounts a ON a.borrower_id = c.borrower_id AND a.currency = o.currency
        WHERE o.status = 'settled' AND o.ended_on = {d} AND a.status <> 'sold'
          AND a.id NOT IN {QUARANTINED}
    """


def _settle(conn: Connection, sql: Dialect, as_of: date) -> None:
    """Forgive what is left of the settled offers' accounts and close their cases (re-running
    the date finds nothing left to forgive)."""
    d = sql.date_param("d")
    params = {"d": as_of}
    settling = _settling_accounts(d)
    conn.execute(
        dated(
            f"""INSERT INTO write_offs
                    (account_id, reason, business_date, case_id, offer_id, currency, amount, dpd)
                SELECT s.account_id, '{SETTLEMENT}', {d}, s.case_id, s.offer_id, s.currency,
                       SUM({_UNPAID}), s.dpd
                FROM ({settling}) AS s JOIN due_items i ON i.account_id = s.account_id
                GROUP BY s.account_id, s.case_id, s.offer_id, s.currency, s.dpd
                HAVING SUM({_UNPAID}) > 0
                ON CONFLICT DO NOTHING""",
            "d",
        ),
        params,
    )
    waive = ", ".join(f"paid_{c} = {c}" for c in _COMPONENTS)
    unpaid = _UNPAID.replace("i.", "due_items.")
    ids = f"(SELECT s.account_id FROM ({settling}) AS s)"
    conn.execute(
        dated(
            f"""UPDATE due_items SET waived = waived + {unpaid}, {waive}
                WHERE account_id IN {ids} AND {unpaid} > 0""",
            "d",
        ),
        params,
    )
    # assessed again tonight: paid off, DPD 0 (a charged-off account too)
    conn.execute(
        dated(
            f"""UPDATE accounts SET status = 'active', state_as_of = NULL
                WHERE id IN {ids} AND status IN ('active', 'charged_off')""",
            "d",
        ),
        params,
    )
    conn.execute(
        dated(
            f"""UPDATE cases SET status = 'settled', closed_on = {d}
                WHERE status IN ('open', 'charged_off')
                  AND id IN (SELECT o.case_id FROM settlement_offers o
                             WHERE o.status = 'settled' AND o.ended_on = {d})""",
            "d",
        ),
        params,
    )
