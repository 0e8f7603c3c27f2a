"""Legal referral: open cases matching a legal rule go to the legal team's queue, for the whole
portfolio at once (one INSERT ... SELECT per rule — a lender has a handful — never a loop over
cases).

A rule refers an open case at DPD ≥ `min_dpd` whose balance (everything its accounts in the
case's currency still owe, sold ones aside) is at least `min_balance` (when the rule names a
currency), with no active plan unless the rule says otherwise, not placed with an agency, whose
borrower has no open dispute, and that was never in legal before (a withdrawn case stays with
the lender; a team lead may refer it again by hand). Rules are tried by priority (lowest first,
then oldest). A referred case moves to the `legal` queue, each referral is recorded as a status
move by `nightly`, and what the lender had planned, deferred or queued for it is called off
(store/handover.py, as a placement does). Safe to re-run: a case once referred is not again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Integer,
    String,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.sql.expression import ScalarSelect

from arrears.domain.legal import LegalStatus
from arrears.store import tables as t
from arrears.store.handover import call_off
from arrears.store.tables_agency import placements
from arrears.store.tables_compliance import disputes
from arrears.store.tables_legal import legal_cases, legal_events, legal_rules

NIGHTLY = "nightly"  # who the daily run's referrals are recorded as
LEGAL_QUEUE = "legal"
IN_LEGAL_REASON = "in legal"


def case_balance_sql() -> ScalarSelect[Any]:
    """A case's balance as a correlated scalar: its borrower's accounts in its currency, unsold."""
    a = t.accounts.c
    c = t.cases.c
    return (
        select(func.coalesce(func.sum(a.outstanding), 0))
        .where(a.borrower_id == c.borrower_id, a.currency == c.currency, a.status != "sold")
        .scalar_subquery()
    )


def refer_to_legal(conn: Connection, as_of: date, *, at: datetime | None = None) -> int:
    """Refer every open case a legal rule matches; returns how many were referred."""
    at = at or datetime.now(UTC)
    c, p, x, lc = t.cases.c, placements.c, disputes.c, legal_cases.c
    balance = case_balance_sql()
    referred = 0
    rules = conn.execute(
        select(legal_rules)
        .where(legal_rules.c.active.is_(True))
        .order_by(legal_rules.c.priority, legal_rules.c.id)
    ).all()
    for rule in rules:
        conds = [
            c.status == "open",
            c.dpd >= rule.min_dpd,
            ~exists().where(p.case_id == c.id, p.status == "placed"),
            ~exists().where(lc.case_id == c.id),
            ~exists().where(x.borrower_id == c.borrower_id, x.status == "open"),
        ]
        if rule.currency is not None:
            conds += [c.currency == rule.currency, balance >= rule.min_balance]
        if rule.no_active_plan:
            pl = t.plans.c
            conds.append(~exists().where(pl.case_id == c.id, pl.status == "active"))
        chosen = select(
            c.id,
            literal(LegalStatus.REFERRED.value, String),
            literal(rule.id, Integer),
            literal(as_of, Date),
            literal(NIGHTLY, String),
            c.dpd,
            c.currency,
            balance,
            c.queue,
        ).where(*conds)
        added = conn.execute(
            insert(legal_cases)
            .from_select(
                [
                    "case_id",
                    "status",
                    "rule_id",
                    "referred_on",
                    "referred_by",
                    "dpd_at_referral",
                    "currency",
                    "balance_at_referral",
                    "queue_before",
                ],
                chosen,
            )
            .returning(legal_cases.c.id)
        )
        referred += len(added.all())  # (the row count of INSERT ... SELECT is not portable)
    if referred:
        hand_over(conn, as_of, at, by=NIGHTLY)
    return referred


def hand_over(conn: Connection, as_of: date, at: datetime, *, by: str) -> None:
    """The cases `by` referred on `as_of`: each referral recorded as a status move, the case on
    the legal queue, the lender's outreach for it called off — one statement each."""
    lc, ev = legal_cases.c, legal_events.c
    today = (lc.referred_on == as_of) & (lc.referred_by == by) & lc.ended_on.is_(None)
    conn.execute(
        insert(legal_events).from_select(
            ["legal_case_id", "from_status", "to_status", "business_date", "by", "at"],
            select(
                lc.id,
                null(),
                literal(LegalStatus.REFERRED.value, String),
                literal(as_of, Date),
                literal(by, String),
                literal(at, DateTime(timezone=True)),
            ).where(today, ~exists().where(ev.legal_case_id == lc.id)),
        )
    )
    case_ids = select(lc.case_id).where(today)
    conn.execute(update(t.cases).where(t.cases.c.id.in_(case_ids)).values(queue=LEGAL_QUEUE))
    call_off(conn, case_ids, IN_LEGAL_REASON)
