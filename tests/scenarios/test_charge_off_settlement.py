"""The end of two cases, date by date, through the real services and the daily run (SQLite and
PostgreSQL).

Li Na's loan (B1) falls due on 1 January 2026 and is never paid:
  2 Jan   the case opens, DPD 1; penalty accrues daily.
  1 May   she pays 100.00: not a recovery (the account is not charged off).
  29 Jun  DPD 179: not yet charged off.
  30 Jun  DPD 180: charged off. The balance (principal and the penalty accrued to the day) is
          written off, the account stops accruing, the case shows charged_off and stays open.
  10 Jul  she pays 2,000.00: a recovery, reported apart; no penalty accrued since 30 Jun, no
          new case opened.
Zhao Lei's loan (B2) falls due the same day:
  1 Mar   agent Wang offers to settle for 70% of the balance (30% off): beyond an agent's 10%,
          the offer waits; Wang cannot approve it, nor can another agent. Zhao pays the 70% the
          same day: the run does not settle an offer nobody approved.
  2 Mar   team lead Chen approves; the run counts the payment of 1 Mar (made after the offer,
          before its due date): the case closes `settled`, the 30% is written off, the
          account is paid off.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine, select

from arrears.domain.money import Money
from arrears.domain.settlement_offers import OfferStatus, SettlementApprovalRefused
from arrears.engine.run_day import run_day
from arrears.privacy.masking import Role
from arrears.services.recoveries import recoveries, totals
from arrears.services.settlements import approve_settlement, get_offer, offer_settlement
from arrears.services.users import add_user
from arrears.store import tables as t
from arrears.store.tables_late import write_offs
from tests import factories as f

DUE = date(2026, 1, 1)
PRINCIPAL_1 = 1_000_000  # 10,000.00 CNY
PRINCIPAL_2 = 500_000  # 5,000.00 CNY
AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _account(conn: Connection, aid: str) -> dict[str, object]:
    return dict(conn.execute(select(t.accounts).where(t.accounts.c.id == aid)).one()._mapping)


def _case(conn: Connection, bid: str) -> list[tuple[str, object]]:
    c = t.cases.c
    return [
        (r.status, r.closed_on)
        for r in conn.execute(select(c.status, c.closed_on).where(c.borrower_id == bid))
    ]


def _penalty(conn: Connection, aid: str) -> int:
    i = t.due_items.c
    return int(conn.execute(select(i.penalty).where(i.account_id == aid)).scalar_one())


def _write_offs(conn: Connection) -> list[tuple[str, str, date, str, int]]:
    w = write_offs.c
    rows = conn.execute(
        select(w.account_id, w.reason, w.business_date, w.currency, w.amount).order_by(
            w.account_id, w.reason
        )
    ).all()
    return [(r[0], r[1], _d(r[2]), r[3], int(r[4])) for r in rows]


def _d(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_charge_off_at_180_and_a_settlement_approved_by_a_team_lead(db: Engine) -> None:
    with db.begin() as conn:
        for bid, aid, principal in (("B1", "A1", PRINCIPAL_1), ("B2", "A2", PRINCIPAL_2)):
            f.borrower(conn, bid)
            f.account(
                conn, aid, bid, [(DUE, principal, 0)], penalty_rate_ppm=50_000,
                annual_rate_ppm=120_000,
            )  # fmt: skip
        add_user(conn, "wang", "a-long-password", Role.AGENT, at=AT)
        add_user(conn, "sun", "a-long-password", Role.AGENT, at=AT)
        add_user(conn, "chen", "a-long-password", Role.TEAM_LEAD, at=AT)

    # 2 Jan: both cases open
    run_day(db, date(2026, 1, 2))
    with db.connect() as conn:
        assert _case(conn, "B1") == [("open", None)]
        assert _account(conn, "A1")["dpd"] == 1

    # 1 Mar: the agent offers 70%; it waits for approval
    run_day(db, date(2026, 3, 1))
    with db.begin() as conn:
        case_2 = conn.execute(select(t.cases.c.id).where(t.cases.c.borrower_id == "B2")).scalar()
        assert case_2 is not None
        offer = offer_settlement(
            conn, case_id=case_2, pay_pct=Decimal(70), due_on=date(2026, 3, 15),
            on=date(2026, 3, 1), by="wang",
        )  # fmt: skip
        balance = offer.balance
        assert offer.status is OfferStatus.PROPOSED
        assert balance.to_minor() > PRINCIPAL_2  # principal and the penalty so far
        assert offer.amount == Money.of(balance.amount * Decimal("0.7"), "CNY")
        for agent in ("wang", "sun"):
            with pytest.raises(SettlementApprovalRefused):
                approve_settlement(conn, offer.id, by=agent, on=date(2026, 3, 1))
        f.payment(conn, "P2", "A2", offer.amount.to_minor(), date(2026, 3, 1))
    run_day(db, date(2026, 3, 1))
    with db.connect() as conn:
        assert get_offer(conn, offer.id).status is OfferStatus.PROPOSED
        assert _case(conn, "B2") == [("open", None)]

    # 2 Mar: the team lead approves; the run settles the case
    with db.begin() as conn:
        approve_settlement(conn, offer.id, by="chen", on=date(2026, 3, 2))
    report = run_day(db, date(2026, 3, 2))
    assert report.offers_settled == 1
    with db.connect() as conn:
        settled = get_offer(conn, offer.id)
        assert settled.status is OfferStatus.SETTLED and settled.approved_by == "chen"
        assert _case(conn, "B2") == [("settled", date(2026, 3, 2))]
        a2 = _account(conn, "A2")
        assert (a2["status"], a2["outstanding"], a2["dpd"]) == ("paid_off", 0, 0)
        # the remainder of the balance on the day it settled (one more day of penalty)
        discount = PRINCIPAL_2 + _penalty(conn, "A2") - offer.amount.to_minor()
        assert discount >= (balance - offer.amount).to_minor() > 0
        assert ("A2", "settlement", date(2026, 3, 2), "CNY", discount) in _write_offs(conn)
    run_day(db, date(2026, 3, 3))  # the day after: nothing re-opens, nothing written twice
    with db.connect() as conn:
        assert _case(conn, "B2") == [("settled", date(2026, 3, 2))]
        assert [w for w in _write_offs(conn) if w[0] == "A2"] == [
            ("A2", "settlement", date(2026, 3, 2), "CNY", discount)
        ]

    # 1 May: a payment before the charge-off
    with db.begin() as conn:
        f.payment(conn, "P1a", "A1", 10_000, date(2026, 5, 1))
    run_day(db, date(2026, 5, 1))

    # 29 Jun: DPD 179, still on the books
    run_day(db, date(2026, 6, 29))
    with db.connect() as conn:
        a1 = _account(conn, "A1")
        assert (a1["dpd"], a1["status"]) == (179, "active")
        assert [w for w in _write_offs(conn) if w[0] == "A1"] == []

    # 30 Jun: DPD 180, charged off
    report = run_day(db, date(2026, 6, 30))
    assert report.accounts_charged_off == 1
    with db.connect() as conn:
        a1 = _account(conn, "A1")
        penalty_1 = _penalty(conn, "A1")
        balance_1 = PRINCIPAL_1 + penalty_1 - 10_000
        assert (a1["dpd"], a1["status"], a1["outstanding"]) == (180, "charged_off", balance_1)
        assert [w for w in _write_offs(conn) if w[0] == "A1"] == [
            ("A1", "charge_off", date(2026, 6, 30), "CNY", balance_1)
        ]
        assert _case(conn, "B1") == [("charged_off", None)]

    # 10 Jul: a recovery; no penalty since the charge-off, no new case
    with db.begin() as conn:
        f.payment(conn, "P1b", "A1", 200_000, date(2026, 7, 10))
    run_day(db, date(2026, 7, 10))
    run_day(db, date(2026, 7, 31))
    with db.connect() as conn:
        assert _penalty(conn, "A1") == penalty_1
        assert _case(conn, "B1") == [("charged_off", None)]
        assert _account(conn, "A1")["outstanding"] == balance_1 - 200_000
        found = recoveries(conn, date(2026, 5, 1), date(2026, 7, 31))
        assert [(r.account_id, r.payments, r.recovered, r.applied) for r in found] == [
            ("A1", 1, 200_000, 200_000)
        ]
        assert [(x.currency, x.recovered) for x in totals(found)] == [("CNY", 200_000)]
        assert recoveries(conn, date(2026, 5, 1), date(2026, 7, 9)) == []
