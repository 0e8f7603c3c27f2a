"""The API carries the borrower's jurisdiction (validated, it chooses the rule pack) and takes
a dispute the lender received, which pauses collection (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.services.disputes import list_disputes
from arrears.store import tables as t
from arrears.store.tables_compliance import borrower_flags

BORROWER = {"name": "Jane Roe", "phone": "+14155550101", "timezone": "America/Los_Angeles"}


def test_jurisdiction_is_validated_and_stored(client: TestClient, auth: dict[str, str], app: App):  # type: ignore[no-untyped-def]
    r = client.put("/api/v1/borrowers/B1", json={**BORROWER, "jurisdiction": "us-ca"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["jurisdiction"] == "US-CA"
    r = client.put(
        "/api/v1/borrowers/B2", json={**BORROWER, "jurisdiction": "California"}, headers=auth
    )
    assert r.status_code == 422
    assert "body.jurisdiction" in r.text and "US-CA" in r.text
    with app.engine.connect() as conn:
        stored = dict(conn.execute(select(t.borrowers.c.id, t.borrowers.c.jurisdiction)).all())
    assert stored == {"B1": "US-CA"}


def test_a_dispute_over_the_api_flags_the_borrower(  # type: ignore[no-untyped-def]
    client: TestClient, auth: dict[str, str], app: App
):
    assert client.put("/api/v1/borrowers/B1", json=BORROWER, headers=auth).status_code == 200
    r = client.post(
        "/api/v1/borrowers/B1/disputes",
        json={"raised_on": "2026-03-02", "reason": "not my loan"},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["owner"], body["due_on"]) == ("open", "compliance", "2026-04-01")
    with app.engine.connect() as conn:
        flags = conn.execute(select(borrower_flags.c.flag, borrower_flags.c.since)).all()
        (dispute,) = list_disputes(conn)
    assert [tuple(f) for f in flags] == [("dispute", date(2026, 3, 2))]
    assert dispute.source == "api"
    assert (
        client.post(
            "/api/v1/borrowers/NOPE/disputes", json={"raised_on": "2026-03-02"}, headers=auth
        ).status_code
        == 404
    )
