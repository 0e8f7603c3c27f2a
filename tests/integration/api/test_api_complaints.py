"""The complaints register over the API (SQLite and PostgreSQL): a complaint the lender received
elsewhere pauses outreach when asked; the register and its report give figures, never the text."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.privacy.keyring import KeyRing
from arrears.services.auth import Scope
from arrears.services.complaints import answer_complaint
from arrears.store.tables_compliance import borrower_flags
from tests.integration.api.conftest import token

BORROWER = {"name": "王芳", "phone": "+8613800000001", "jurisdiction": "GB"}
COMPLAINT = {
    "received_on": "2026-03-02",
    "channel": "regulator",
    "category": "third_party_disclosure",
    "summary": "my sister was told about the loan",
    "pause_outreach": True,
}


def test_complaints_over_the_api(  # type: ignore[no-untyped-def]
    client: TestClient, auth: dict[str, str], app: App, keyring: KeyRing
):
    assert client.put("/api/v1/borrowers/B1", json=BORROWER, headers=auth).status_code == 200
    r = client.post("/api/v1/borrowers/B1/complaints", json=COMPLAINT, headers=auth)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["due_on"], body["pause_outreach"]) == ("open", "2026-03-17", True)
    assert "summary" not in body  # the text stays in the register
    with app.engine.connect() as conn:
        flags = conn.execute(select(borrower_flags.c.flag, borrower_flags.c.since)).all()
    assert [tuple(f) for f in flags] == [("complaint", date(2026, 3, 2))]
    # bad input names the field; nothing written
    r = client.post(
        "/api/v1/borrowers/B1/complaints", json={**COMPLAINT, "category": "rude"}, headers=auth
    )
    assert r.status_code == 422 and "body.category" in r.text
    r = client.post("/api/v1/borrowers/NOPE/complaints", json=COMPLAINT, headers=auth)
    assert r.status_code == 404
    reader = token(app, frozenset({Scope.CASES_READ}), name="reader")
    r = client.post("/api/v1/borrowers/B1/complaints", json=COMPLAINT, headers=reader)
    assert r.status_code == 403
    with app.engine.begin() as conn:
        answer_complaint(
            conn, keyring, body["id"], response="apology", outcome="upheld",
            on=date(2026, 3, 9), by="officer", at=datetime(2026, 3, 9, 8, tzinfo=UTC),
        )  # fmt: skip
    (listed,) = client.get("/api/v1/complaints", headers=reader).json()
    assert (listed["status"], listed["outcome"], listed["answered_on"]) == (
        "answered",
        "upheld",
        "2026-03-09",
    )
    assert client.get("/api/v1/complaints?status=open", headers=reader).json() == []
    r = client.get("/api/v1/complaints/report?from=2026-03-01&to=2026-03-31", headers=reader)
    report = r.json()
    assert (report["total"], report["answered"], report["median_days_to_answer"]) == (1, 1, 7.0)
    assert report["by_channel"] == {"regulator": 1}
    assert client.get(f"/api/v1/complaints/{body['id']}", headers=reader).json()["id"] == body["id"]
    assert client.get("/api/v1/complaints/999", headers=reader).status_code == 404
