"""A demand letter names the borrower: when retention anonymises the borrower, the letter's PDF
goes with the rest of their personal data and only its SHA-256 stays (both databases)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import Engine, select, update

from arrears.compliance.rules.packs import get_pack
from arrears.engine.run_day import run_day
from arrears.services import legal
from arrears.services.retention import run_retention
from arrears.services.users import seed_demo_users
from arrears.store import tables as t
from arrears.store.tables_legal import legal_documents
from tests import factories as f

DUE, REFERRED, CLOSED = date(2020, 1, 1), date(2020, 5, 1), date(2020, 6, 1)
AT = datetime.combine(REFERRED, time(2), tzinfo=UTC)  # 10:00 in Shanghai


def test_retention_erases_the_letter_and_keeps_its_hash(db: Engine) -> None:
    ring = f.RING
    with db.begin() as conn:
        seed_demo_users(conn)
        f.borrower(conn, "B1", name="王建国", address_enc=ring.encrypt("上海市黄浦区1号"))
        f.account(conn, "A1", "B1", [(DUE, 100_000, 0)])
    run_day(db, REFERRED)
    with db.begin() as conn:
        case_id = int(conn.scalar(select(t.cases.c.id)) or 0)
        legal.refer(conn, case_id, REFERRED, by="lead2", at=AT, ring=ring)
        made = legal.send_demand_letter(conn, case_id, REFERRED, by="lead2", at=AT, ring=ring)
        assert made.document is not None
        doc, pdf = legal.document_pdf(conn, made.document.id, by="lead2", at=AT, ring=ring)
        # paid in full and closed long ago (as the run would have left it)
        conn.execute(update(t.accounts).values(outstanding=0, overdue_amount=0, dpd=0))
        conn.execute(update(t.cases).values(status="paid_off", closed_on=CLOSED))
    assert hashlib.sha256(pdf).hexdigest() == doc.sha256
    years = get_pack("cn").retention_years
    later = date(CLOSED.year + years, 6, 2)
    with db.begin() as conn:
        report = run_retention(conn, ring, as_of=later, rule_pack="cn", by="ops", at=AT)
    assert report.borrowers == 1
    with db.connect() as conn:
        row = conn.execute(select(legal_documents)).one()
    assert row.content_enc is None and row.sha256 == doc.sha256
    with pytest.raises(legal.LegalDocumentUnavailable, match="erased"), db.begin() as conn:
        legal.document_pdf(conn, doc.id, by="lead2", at=AT, ring=ring)
