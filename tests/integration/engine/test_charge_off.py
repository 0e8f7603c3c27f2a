"""The charge-off step (SQLite and PostgreSQL): each product's charge-off DPD, a re-run of the
date changes nothing, a borrower with another account still past due keeps an open case, and
an offer never approved lapses after its due date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from arrears.domain.settlement_offers import OfferStatus
from arrears.engine.config import RunConfig
from arrears.engine.run_day import run_day
from arrears.privacy.masking import Role
from arrears.services.settlements import get_offer, offer_settlement
from arrears.services.users import add_user
from arrears.store import tables as t
from arrears.store.tables_late import write_offs
from tests import factories as f

DUE = date(2026, 1, 1)
CONFIG = RunConfig(charge_off_dpd=120, charge_off_dpd_by_product={"credit_card": 90})


def _state(db: Engine) -> dict[str, tuple[str, int]]:
    with db.connect() as conn:
        rows = conn.execute(select(t.accounts.c.id, t.accounts.c.status, t.accounts.c.dpd))
        return {r.id: (r.status, r.dpd) for r in rows}


def _entries(db: Engine) -> list[tuple[str, int]]:
    with db.connect() as conn:
        w = write_offs.c
        return [
            (r.account_id, int(r.amount))
            for r in conn.execute(select(w.account_id, w.amount).order_by(w.account_id))
        ]


def test_each_products_charge_off_dpd_and_a_rerun_changes_nothing(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "CARD", "B1", [(DUE, 40_000, 0)], product="credit_card")
        f.account(conn, "LOAN", "B1", [(DUE, 90_000, 0)])
        f.borrower(conn, "B2")
        f.account(conn, "LOAN2", "B2", [(DUE, 70_000, 0)], currency="JPY")
    run_day(db, date(2026, 1, 2), config=CONFIG)
    day_90 = date(2026, 4, 1)  # 90 days after 1 Jan
    for _ in range(2):  # the same date twice
        report = run_day(db, day_90, config=CONFIG)
    assert report.accounts_charged_off == 0  # the second run found nothing new
    assert _state(db) == {
        "CARD": ("charged_off", 90),
        "LOAN": ("active", 90),
        "LOAN2": ("active", 90),
    }
    assert _entries(db) == [("CARD", 40_000)]
    with db.connect() as conn:
        cases = dict(conn.execute(select(t.cases.c.borrower_id, t.cases.c.status)).all())
    assert cases == {"B1": "open", "B2": "open"}  # B1's loan is still past due

    run_day(db, date(2026, 5, 1), config=CONFIG)  # DPD 120: the loans
    assert _entries(db) == [("CARD", 40_000), ("LOAN", 90_000), ("LOAN2", 70_000)]
    with db.connect() as conn:
        cases = dict(conn.execute(select(t.cases.c.borrower_id, t.cases.c.status)).all())
        currencies = dict(
            conn.execute(select(write_offs.c.account_id, write_offs.c.currency)).all()
        )
        opened = conn.execute(select(func.count()).select_from(t.cases)).scalar_one()
    assert cases == {"B1": "charged_off", "B2": "charged_off"}
    assert currencies == {"CARD": "CNY", "LOAN": "CNY", "LOAN2": "JPY"}
    run_day(db, date(2026, 5, 2), config=CONFIG)
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.cases)).scalar_one() == opened


def test_an_offer_never_approved_lapses_after_its_due_date(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(DUE, 100_000, 0)])
        add_user(conn, "wang", "a-long-password", Role.AGENT, at=datetime.now(UTC))
    run_day(db, date(2026, 1, 2))
    with db.begin() as conn:
        case = conn.execute(select(t.cases.c.id)).scalar_one()
        offer = offer_settlement(
            conn, case_id=case, pay_pct=Decimal(60), due_on=date(2026, 1, 10),
            on=date(2026, 1, 2), by="wang",
        )  # fmt: skip
        f.payment(conn, "P1", "A1", offer.amount.to_minor(), date(2026, 1, 5))
    run_day(db, date(2026, 1, 10))
    with db.connect() as conn:
        assert get_offer(conn, offer.id).status is OfferStatus.PROPOSED
    report = run_day(db, date(2026, 1, 11))
    assert report.offers_lapsed == 1
    with db.connect() as conn:
        lapsed = get_offer(conn, offer.id)
        status = conn.execute(select(t.cases.c.status)).scalar_one()
    assert (lapsed.status, lapsed.ended_on, lapsed.paid) == (
        OfferStatus.LAPSED,
        date(2026, 1, 11),
        offer.amount,
    )
    assert status == "open" and _entries(db) == []


def test_the_charge_off_dpd_is_a_whole_number_of_days() -> None:
    with pytest.raises(ValueError, match="charge-off DPD: 0"):
        RunConfig(charge_off_dpd=0)
    with pytest.raises(ValueError, match="charge-off DPD of credit_card"):
        RunConfig(charge_off_dpd_by_product={"credit_card": -5})


def test_a_charged_off_case_is_settled_or_paid_off_by_recoveries(db: Engine) -> None:
    with db.begin() as conn:
        for n in (1, 2):
            f.borrower(conn, f"B{n}")
            f.account(conn, f"A{n}", f"B{n}", [(DUE, 100_000, 0)])
        add_user(conn, "boss", "a-long-password", Role.MANAGER, at=datetime.now(UTC))
    run_day(db, date(2026, 1, 2), config=CONFIG)
    run_day(db, date(2026, 5, 1), config=CONFIG)  # DPD 120: both charged off
    with db.begin() as conn:
        case_1 = conn.execute(
            select(t.cases.c.id).where(t.cases.c.borrower_id == "B1")
        ).scalar_one()
        offer = offer_settlement(
            conn, case_id=case_1, pay_pct=Decimal(50), due_on=date(2026, 5, 20),
            on=date(2026, 5, 2), by="boss",
        )  # fmt: skip
        assert offer.status is OfferStatus.APPROVED  # a manager grants 50% alone
        f.payment(conn, "P1", "A1", 50_000, date(2026, 5, 10))
        f.payment(conn, "P2", "A2", 100_000, date(2026, 5, 10))  # all of it, as a recovery
    run_day(db, date(2026, 5, 10), config=CONFIG)
    with db.connect() as conn:
        cases = {
            r.borrower_id: (r.status, r.closed_on)
            for r in conn.execute(
                select(t.cases.c.borrower_id, t.cases.c.status, t.cases.c.closed_on)
            )
        }
        a1 = conn.execute(select(t.accounts).where(t.accounts.c.id == "A1")).one()
    assert cases == {
        "B1": ("settled", date(2026, 5, 10)),
        "B2": ("paid_off", date(2026, 5, 10)),
    }
    assert (a1.status, a1.outstanding, a1.dpd) == ("paid_off", 0, 0)
    with db.connect() as conn:
        w = write_offs.c
        entries = conn.execute(
            select(w.account_id, w.reason, w.amount).order_by(w.account_id, w.reason)
        ).all()
    assert [tuple(e) for e in entries] == [
        ("A1", "charge_off", 100_000),
        ("A1", "settlement", 50_000),
        ("A2", "charge_off", 100_000),
    ]
