"""The late stages over the API (SQLite and PostgreSQL): the write-offs the lender's ledger
books — a charge-off, a settlement's remainder — the recoveries, and a case's offers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.engine.run_day import run_day
from arrears.privacy.masking import Role
from arrears.services.settlements import offer_settlement
from arrears.services.users import add_user
from arrears.store import tables as t
from tests import factories as f
from tests.integration.api.conftest import token

DUE = date(2025, 9, 1)


def test_write_offs_recoveries_and_offers(client: TestClient, auth: dict[str, str], app: App):  # type: ignore[no-untyped-def]
    db = app.engine
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(DUE, 100_000, 0)])
        f.borrower(conn, "B2")
        f.account(conn, "A2", "B2", [(date(2026, 2, 1), 80_000, 0)], currency="JPY")
        add_user(conn, "lead", "a-long-password", Role.TEAM_LEAD, at=datetime.now(UTC))
    run_day(db, date(2026, 2, 2))
    with db.begin() as conn:
        case_2 = conn.execute(
            select(t.cases.c.id).where(t.cases.c.borrower_id == "B2")
        ).scalar_one()
        offer = offer_settlement(
            conn, case_id=case_2, pay_pct=Decimal(75), due_on=date(2026, 2, 20),
            on=date(2026, 2, 2), by="lead",
        )  # fmt: skip
        f.payment(conn, "P2", "A2", offer.amount.to_minor(), date(2026, 2, 3), currency="JPY")
    run_day(db, date(2026, 2, 3))
    run_day(db, date(2026, 2, 28))  # DPD 180 for A1
    with db.begin() as conn:
        f.payment(conn, "P1", "A1", 30_000, date(2026, 3, 1))
    run_day(db, date(2026, 3, 1))

    r = client.get("/api/v1/write-offs?from=2026-02-01&to=2026-02-28", headers=auth)
    assert r.status_code == 200, r.text
    assert [(w["account_id"], w["reason"], w["business_date"], w["amount"], w["currency"])
            for w in r.json()] == [
        ("A2", "settlement", "2026-02-03", "20000", "JPY"),
        ("A1", "charge_off", "2026-02-28", "1000.00", "CNY"),
    ]  # fmt: skip
    r = client.get("/api/v1/recoveries?from=2026-03-01&to=2026-03-31", headers=auth)
    assert [(x["account_id"], x["recovered"], x["charged_off"]) for x in r.json()] == [
        ("A1", "300.00", "1000.00")
    ]
    r = client.get(f"/api/v1/cases/{case_2}/settlement-offers", headers=auth)
    assert [(o["status"], o["pay_pct"], o["amount"], o["paid"]) for o in r.json()] == [
        ("settled", "75", "60000", "60000")
    ]
    assert client.get("/api/v1/cases/999/settlement-offers", headers=auth).status_code == 404
    bad = client.get("/api/v1/write-offs?from=2026-03-01&to=2026-02-01", headers=auth)
    assert bad.status_code == 422 and "period-invalid" in bad.text
    no_scope = token(app, frozenset(), name="none")
    assert client.get("/api/v1/recoveries?from=2026-03-01&to=2026-03-31",
                      headers=no_scope).status_code == 403  # fmt: skip
