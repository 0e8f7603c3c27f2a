"""The lender's systems feed the portfolio and read cases through /api/v1."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from arrears.bootstrap import App
from arrears.services.auth import Scope
from arrears.store import tables as t
from tests.integration.api.conftest import token

BORROWER = {"name": "张三", "phone": "13812345678", "id_number": "110101199001011234"}


def feed(client: TestClient, auth: dict[str, str]) -> None:
    assert client.put("/api/v1/borrowers/B1", json=BORROWER, headers=auth).status_code == 200
    r = client.put(
        "/api/v1/borrowers/B1/contacts/C1",
        json={"name": "李四", "relationship": "spouse", "phone": "13900001111", "consent": True},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    r = client.put(
        "/api/v1/accounts/A1",
        json={
            "borrower_id": "B1",
            "product": "instalment_loan",
            "principal": "3000.00",
            "annual_rate": "0.18",
            "penalty_rate": "0.05",
            "opened_on": "2026-01-01",
        },
        headers=auth,
    )
    assert r.status_code == 200, r.text
    r = client.put(
        "/api/v1/accounts/A1/due-items",
        json={
            "items": [
                {"seq": 1, "due_on": "2026-02-01", "principal": "1000.00", "interest": "45.00"},
                {"seq": 2, "due_on": "2026-03-01", "principal": "1000.00", "interest": "30.00"},
            ]
        },
        headers=auth,
    )
    assert r.status_code == 200, r.text


def test_upserts_store_personal_data_encrypted_and_answer_masked(
    client: TestClient, auth: dict[str, str], app: App
) -> None:
    feed(client, auth)
    r = client.put("/api/v1/borrowers/B1", json={**BORROWER, "risk_score": 610}, headers=auth)
    body = r.json()
    assert body["name_masked"] == "张*" and body["phone_masked"] == "138****5678"
    assert body["risk_score"] == 610
    with app.engine.connect() as conn:
        row = conn.execute(select(t.borrowers)).one()
        account = conn.execute(select(t.accounts)).one()
        items = conn.execute(select(t.due_items).order_by(t.due_items.c.seq)).all()
    assert b"13812345678" not in row.phone_enc
    assert app.keyring.decrypt(row.phone_enc) == "+8613812345678"
    assert row.phone_index == app.keyring.blind_index("+8613812345678")
    assert account.principal == 300000 and account.annual_rate_ppm == 180000
    assert [(i.principal, i.interest) for i in items] == [(100000, 4500), (100000, 3000)]


def test_payment_with_the_same_idempotency_key_twice_posts_once(
    client: TestClient, auth: dict[str, str], app: App
) -> None:
    feed(client, auth)
    pay = {"account_id": "A1", "amount": "500.00", "received_on": "2026-03-02"}
    first = client.post(
        "/api/v1/payments", json=pay, headers={**auth, "Idempotency-Key": "pay-0001"}
    )
    again = client.post(
        "/api/v1/payments", json=pay, headers={**auth, "Idempotency-Key": "pay-0001"}
    )
    other = client.post(
        "/api/v1/payments", json=pay, headers={**auth, "Idempotency-Key": "pay-0002"}
    )
    assert first.status_code == 201 and again.status_code == 200 and other.status_code == 201
    assert again.json()["replayed"] is True
    assert again.json()["payment_id"] == first.json()["payment_id"]
    with app.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(t.payments)) == 2
        assert conn.scalar(select(func.sum(t.payments.c.amount))) == 100000


def test_reusing_a_key_for_a_different_payment_is_a_problem(
    client: TestClient, auth: dict[str, str]
) -> None:
    feed(client, auth)
    h = {**auth, "Idempotency-Key": "pay-0001"}
    client.post(
        "/api/v1/payments",
        json={"account_id": "A1", "amount": "5.00", "received_on": "2026-03-02"},
        headers=h,
    )
    r = client.post(
        "/api/v1/payments",
        json={"account_id": "A1", "amount": "6.00", "received_on": "2026-03-02"},
        headers=h,
    )
    assert r.status_code == 422
    assert r.json()["type"].endswith("idempotency-key-reused")


def test_errors_are_problem_details_naming_the_field(
    client: TestClient, auth: dict[str, str]
) -> None:
    feed(client, auth)
    r = client.post(
        "/api/v1/payments",
        json={"account_id": "A1", "amount": "1.234", "received_on": "2026-03-02"},
        headers={**auth, "Idempotency-Key": "pay-0003"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 422 and problem["errors"][0]["field"] == "body.amount"
    assert "decimals" in problem["errors"][0]["detail"]
    r = client.put("/api/v1/borrowers/B2", json={**BORROWER, "phone": "12345"}, headers=auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.phone"
    r = client.put("/api/v1/borrowers/B2", json={"phone": "13812345678"}, headers=auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.name"
    r = client.post(
        "/api/v1/payments",
        json={"account_id": "NOPE", "amount": "1.00", "received_on": "2026-03-02"},
        headers={**auth, "Idempotency-Key": "pay-0004"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.account_id"


def test_no_token_is_401_and_a_token_without_the_scope_is_403(client: TestClient, app: App) -> None:
    r = client.get("/api/v1/cases")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["type"].endswith("unauthenticated")
    r = client.get("/api/v1/cases", headers={"Authorization": "Bearer arr_nothing_here"})
    assert r.status_code == 401
    reader = token(app, frozenset({Scope.CASES_READ}), "reader")
    assert client.get("/api/v1/cases", headers=reader).status_code == 200
    r = client.put("/api/v1/borrowers/B1", json=BORROWER, headers=reader)
    assert r.status_code == 403 and r.json()["type"].endswith("scope-missing")


def test_tokens_are_hashed_at_rest(app: App) -> None:
    header = token(app)
    secret = header["Authorization"].split("_", 2)[2]
    with app.engine.connect() as conn:
        stored = conn.execute(text("SELECT secret_hash FROM integration_tokens")).scalar_one()
    assert secret not in stored and len(stored) == 64


def test_cases_and_their_history_are_readable(
    client: TestClient, auth: dict[str, str], app: App
) -> None:
    feed(client, auth)
    with app.engine.begin() as conn:
        conn.execute(
            t.cases.insert().values(
                borrower_id="B1",
                opened_on=date(2026, 2, 2),
                currency="CNY",
                dpd=29,
                bucket="M1",
                overdue_amount=104500,
            )
        )
    page = client.get("/api/v1/cases?status=open", headers=auth).json()
    assert [c["overdue_amount"] for c in page["items"]] == ["1045.00"]
    case_id = page["items"][0]["id"]
    assert client.get(f"/api/v1/cases/{case_id}/plans", headers=auth).json() == []
    assert client.get("/api/v1/cases/999999", headers=auth).status_code == 404


def test_the_same_key_posted_concurrently_posts_once(
    client: TestClient, auth: dict[str, str], app: App
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    feed(client, auth)
    pay = {"account_id": "A1", "amount": "100.00", "received_on": "2026-03-02"}
    h = {**auth, "Idempotency-Key": "race-0001"}
    with ThreadPoolExecutor(8) as pool:
        codes = sorted(
            pool.map(
                lambda _: client.post("/api/v1/payments", json=pay, headers=h).status_code, range(8)
            )
        )
    assert codes == [200] * 7 + [201]
    with app.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(t.payments)) == 1


def test_the_api_applies_the_importers_field_rules(
    client: TestClient, auth: dict[str, str]
) -> None:
    feed(client, auth)
    r = client.put(
        "/api/v1/borrowers/B1/contacts/C9",
        json={"name": "x", "relationship": "neighbour", "phone": "13900001111"},
        headers=auth,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.relationship"
    r = client.put(
        "/api/v1/accounts/A9",
        json={
            "borrower_id": "B1",
            "product": "mortgage",
            "principal": "1.00",
            "opened_on": "2026-01-01",
        },
        headers=auth,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.product"
    r = client.put("/api/v1/borrowers/B1", json={**BORROWER, "timezone": "Mars/Base"}, headers=auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.timezone"
