"""Views mask personal data by role; a reveal needs a permitted role and a reason and is audited.
Retention anonymises borrowers whose last case closed before the pack's period, keeping figures."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select

from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.privacy.masking import RevealRefused, reveal, view_borrower
from arrears.services.retention import run_retention
from arrears.store import tables as t
from tests import factories as f

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_agent_sees_masks_lead_reveals_with_reason_and_it_is_audited(db: Engine) -> None:
    ring = f.RING
    with db.begin() as conn:
        f.borrower(conn, "B1", phone="+8613812345678", name="陈静")
        view = view_borrower(conn, ring, "B1", "agent")
        assert (view["phone"], view["name"]) == ("138****5678", "陈*")
        assert view_borrower(conn, ring, "B1", "integration")["phone"] == "+8613812345678"
        with pytest.raises(RevealRefused):
            reveal(
                conn,
                ring,
                actor="agent",
                role="agent",
                borrower_id="B1",
                field="phone",
                reason="I would like to see it",
                at=AT,
            )
        with pytest.raises(RevealRefused):
            reveal(
                conn,
                ring,
                actor="lead",
                role="team_lead",
                borrower_id="B1",
                field="phone",
                reason="",
                at=AT,
            )
        phone = reveal(
            conn,
            ring,
            actor="lead",
            role="team_lead",
            borrower_id="B1",
            field="phone",
            reason="borrower disputes the number on file",
            at=AT,
        )
        assert phone == "+8613812345678"
        logged = audit.entries(conn, "reveal")
    assert [(e["actor"], e["subject"]) for e in logged] == [("lead", "borrower:B1")]
    assert "disputes" in logged[0]["detail"]


def _closed_case(conn, bid: str, closed_on: date | None, status: str = "paid_off") -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        t.cases.insert().values(
            borrower_id=bid,
            opened_on=date(2019, 1, 2),
            closed_on=closed_on,
            status=status,
            currency="CNY",
            overdue_at_open=12345,
            hardship_note="lost job at the factory",
        )
    )


def test_retention_anonymises_only_past_the_period_and_keeps_figures(db: Engine) -> None:
    ring = f.RING
    with db.begin() as conn:
        f.borrower(conn, "OLD", phone="+8613800000011")
        f.contact(conn, "C-OLD", "OLD")
        _closed_case(conn, "OLD", date(2020, 6, 30))  # closed 5 years and 8 months before
        f.borrower(conn, "RECENT", phone="+8613800000012")
        _closed_case(conn, "RECENT", date(2021, 3, 2))  # within 5 years
        f.borrower(conn, "OPEN", phone="+8613800000013")
        _closed_case(conn, "OPEN", None, status="open")
        report = run_retention(conn, ring, as_of=date(2026, 3, 1), rule_pack="cn", by="ops", at=AT)
    assert (report.borrowers, report.contacts, report.cutoff) == (1, 1, date(2021, 3, 1))
    with db.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(t.borrowers))}
        assert rows["OLD"].name_enc is None and rows["OLD"].phone_index is None
        assert rows["OLD"].anonymised_on == date(2026, 3, 1)
        assert rows["RECENT"].name_enc is not None and rows["OPEN"].name_enc is not None
        contact = conn.execute(select(t.contacts)).one()
        assert contact.phone_enc is None
        case = conn.execute(select(t.cases).where(t.cases.c.borrower_id == "OLD")).one()
        assert (case.overdue_at_open, case.hardship_note) == (12345, None)
        assert audit.entries(conn, "retention")[0]["subject"] == "retention:2026-03-01"
    with db.begin() as conn:  # running again changes nothing
        again = run_retention(conn, ring, as_of=date(2026, 3, 1), rule_pack="cn", by="ops", at=AT)
    assert again.borrowers == 0


del KeyRing
