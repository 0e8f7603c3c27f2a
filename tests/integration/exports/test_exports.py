"""Every export over a small book (both databases): its columns, its rows against the
database, masking by role, formula injection, XLSX read back by openpyxl, the audit entry."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services import exports as svc
from arrears.store import tables as t
from arrears.store.tables_compliance import audit_log
from tests.integration.exports.book import (
    AS_OF,
    DAY_BEFORE,
    EVIL_NAME,
    WANG_ADDRESS,
    WANG_ID,
    WANG_PHONE,
    build,
)

AT = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def _csv(db: Engine, ring: KeyRing, kind: str, role: str, **kw: object) -> list[dict[str, str]]:
    out = io.BytesIO()
    svc.run_export(
        db,
        ring,
        kind=kind,
        fmt="csv",
        as_of=AS_OF,
        actor="tester",
        role=role,
        out=out,
        at=AT,
        **kw,  # type: ignore[arg-type]
    )
    text = out.getvalue().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _count(db: Engine, query: object) -> int:
    with db.connect() as conn:
        return int(conn.scalar(query) or 0)  # type: ignore[call-overload]


@pytest.fixture
def book(db: Engine, keyring: KeyRing) -> Engine:
    build(db, keyring)
    return db


def test_each_export_has_its_columns_and_the_databases_rows(book: Engine, keyring: KeyRing) -> None:
    c, i, p = t.cases.c, t.interactions.c, t.promises.c
    expected = {
        "cases": _count(
            book,
            select(func.count()).where(
                c.opened_on <= AS_OF, (c.closed_on.is_(None)) | (c.closed_on >= AS_OF)
            ),
        ),
        "actions": _count(book, select(func.count()).where(t.actions.c.business_date == AS_OF)),
        "interactions": _count(
            book, select(func.count()).where(i.business_date.between(DAY_BEFORE, AS_OF))
        ),
        "promises": _count(book, select(func.count()).where(p.made_on.between(DAY_BEFORE, AS_OF))),
        "plans": _count(
            book, select(func.count()).where(t.plans.c.proposed_on.between(DAY_BEFORE, AS_OF))
        ),
        "recoveries": 1,  # A3: one charged-off account paid in the period
        "agent_performance": 2 * 2,  # two days × the agent and the team lead
        "agency_performance": 1,  # acme, USD, its one tier
    }
    assert expected["cases"] == 2 and expected["interactions"] == 3  # the book is as meant
    for kind, rows in expected.items():
        found = _csv(book, keyring, kind, "manager", start=DAY_BEFORE)
        names = [col.name for col in svc.DEFINITIONS[svc.ExportKind(kind)].columns]
        assert len(found) == rows, kind
        assert list(found[0]) == names, kind

    promises = _csv(book, keyring, "promises", "manager", start=DAY_BEFORE)
    assert [(r["amount"], r["currency"], r["made_on"]) for r in promises] == [
        ("1045.00", "CNY", "2026-03-02"),
        ("47.50", "USD", "2026-03-01"),
    ]
    (recovery,) = _csv(book, keyring, "recoveries", "manager")
    assert (recovery["account_id"], recovery["recovered"], recovery["charged_off"]) == (
        "A3",
        "200.00",
        "2500.00",
    )
    agents = _csv(book, keyring, "agent_performance", "manager")
    chen = next(r for r in agents if r["agent"] == "chen.agent")
    assert (chen["calls"], chen["right_party_contacts"], chen["promises"]) == ("2", "2", "1")
    assert (chen["promised_amount"], chen["currency"]) == ("1045.00", "CNY")
    (acme,) = _csv(book, keyring, "agency_performance", "manager")
    # 15 % of 47.50 is 7.125, rounded half up to the cent
    assert (acme["recovered"], acme["commission"], acme["currency"]) == ("47.50", "7.13", "USD")
    interactions = _csv(book, keyring, "interactions", "manager", start=DAY_BEFORE)
    assert all("note" not in r for r in interactions)  # free text stays out


def test_a_masked_role_sees_no_plaintext_a_clear_role_does(book: Engine, keyring: KeyRing) -> None:
    for role in ("manager", "team_lead"):
        out = io.BytesIO()
        svc.run_export(
            book,
            keyring,
            kind="cases",
            fmt="csv",
            as_of=AS_OF,
            actor="x",
            role=role,
            out=out,
            at=AT,
        )
        raw = out.getvalue().decode("utf-8-sig")
        for secret in (WANG_PHONE, "王芳", WANG_ID, WANG_ADDRESS, "+447700900123"):
            assert secret not in raw, (role, secret)
        wang = next(r for r in csv.DictReader(io.StringIO(raw)) if r["borrower_id"] == "B1")
        assert wang["borrower_phone"].endswith("5678") and "*" in wang["borrower_phone"]
        assert wang["borrower_name"].startswith("王") and "*" in wang["borrower_name"]

    clear = {r["borrower_id"]: r for r in _csv(book, keyring, "cases", "compliance")}
    assert clear["B1"]["borrower_name"] == "王芳"
    assert clear["B1"]["borrower_phone"] == WANG_PHONE
    assert clear["B1"]["borrower_id_number"] == WANG_ID
    assert clear["B1"]["borrower_address"] == WANG_ADDRESS


def test_formula_cells_are_neutralised_numbers_stay_numbers(book: Engine, keyring: KeyRing) -> None:
    cases = {r["borrower_id"]: r for r in _csv(book, keyring, "cases", "compliance")}
    assert cases["B2"]["borrower_name"] == "'" + EVIL_NAME
    assert cases["B2"]["borrower_phone"] == "'+447700900123"
    assert svc.cell("-12") == "'-12" and svc.cell("@SUM(A1)") == "'@SUM(A1)"
    assert svc.cell("\tx") == "'\tx" and svc.cell("\rx") == "'\rx"
    assert svc.cell(Decimal("-12.50")) == Decimal("-12.50") and svc.cell(-3) == -3

    out = io.BytesIO()
    done = svc.run_export(
        book,
        keyring,
        kind="cases",
        fmt="xlsx",
        as_of=AS_OF,
        actor="qian.compliance",
        role="compliance",
        out=out,
        at=AT,
    )
    sheet = load_workbook(io.BytesIO(out.getvalue()), read_only=True)["cases"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header, body = rows[0], rows[1:]
    assert header == [c.name for c in svc.DEFINITIONS[svc.ExportKind.CASES].columns]
    assert len(body) == done.rows == 2
    b2 = dict(zip(header, next(r for r in body if r[1] == "B2"), strict=False))
    assert b2["borrower_name"] == "'" + EVIL_NAME  # text, not a formula
    assert b2["overdue_amount"] == 47.5 and b2["currency"] == "USD"  # a number cell
    assert b2["dpd"] == 11 and b2["opened_on"] == "2026-02-20"


def test_every_export_is_audited_and_a_refused_one_writes_nothing(
    book: Engine, keyring: KeyRing
) -> None:
    out = io.BytesIO()
    done = svc.run_export(
        book,
        keyring,
        kind="promises",
        fmt="xlsx",
        as_of=AS_OF,
        start=DAY_BEFORE,
        actor="li.manager",
        role="manager",
        out=out,
        at=AT,
    )
    with book.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.seq == done.audit_seq)).one()
        assert audit.verify(conn, keyring) == []
    assert (entry.actor, entry.kind, entry.subject) == ("li.manager", "export", "export:promises")
    assert json.loads(entry.detail) == {
        "export": "promises",
        "format": "xlsx",
        "filters": {"as_of": "2026-03-02", "from": "2026-03-01"},
        "rows": 2,
        "role": "manager",
        "personal_data": "none",
    }
    cases = svc.run_export(
        book,
        keyring,
        kind="cases",
        fmt="csv",
        as_of=AS_OF,
        actor="zhao.lead",
        role="team_lead",
        out=io.BytesIO(),
        at=AT,
    )
    assert cases.personal == "masked"

    before = _count(book, select(func.count()).select_from(audit_log))
    refused = io.BytesIO()
    with pytest.raises(svc.ExportRefused, match="role agent may not export cases"):
        svc.run_export(
            book,
            keyring,
            kind="cases",
            fmt="csv",
            as_of=AS_OF,
            actor="chen.agent",
            role="agent",
            out=refused,
            at=AT,
        )
    with pytest.raises(svc.ExportKindUnknown, match="no export 'debts'"):
        svc.parse_kind("debts")
    with pytest.raises(svc.ExportPeriodInvalid):
        svc.period_of(svc.ExportKind.PROMISES, DAY_BEFORE, AS_OF)
    assert refused.getvalue() == b""
    assert _count(book, select(func.count()).select_from(audit_log)) == before
