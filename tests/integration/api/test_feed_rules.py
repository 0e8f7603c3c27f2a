"""The API applies the same cross-field rules as the file import (both databases): a due item
below what was paid, a payment before the account opened, bounded plain amounts, no NUL."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from arrears.bootstrap import App
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests.integration.api.test_api import feed


def _pay(client: TestClient, auth: dict[str, str], key: str, **body: str) -> object:
    pay = {"account_id": "A1", "amount": "10.00", "currency": "CNY", "received_on": "2026-02-01"}
    return client.post(
        "/api/v1/payments", json={**pay, **body}, headers={**auth, "Idempotency-Key": key}
    )


def test_a_due_item_cannot_shrink_below_what_was_paid(
    client: TestClient, auth: dict[str, str], app: App
) -> None:
    feed(client, auth)
    with app.engine.begin() as conn:  # 500.00 of item 1's principal is paid
        conn.execute(
            update(t.due_items)
            .where(t.due_items.c.account_id == "A1", t.due_items.c.seq == 1)
            .values(paid_principal=50000)
        )
    r = client.put(
        "/api/v1/accounts/A1/due-items",
        json={"items": [{"seq": 1, "due_on": "2026-02-01", "principal": "110.00"}]},
        headers=auth,
    )
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert errors == [
        {
            "field": "body.items.0.principal",
            "detail": "110.00 is less than the 500.00 already paid on item 1 of A1; a due item "
            "cannot shrink below what was paid",
        }
    ]
    with app.engine.connect() as conn:
        principal = conn.scalar(
            select(t.due_items.c.principal).where(
                t.due_items.c.account_id == "A1", t.due_items.c.seq == 1
            )
        )
    assert principal == 100000  # unchanged
    run_day(app.engine, date(2026, 2, 2))
    with app.engine.connect() as conn:
        owed = conn.scalar(
            select(t.due_items.c.principal - t.due_items.c.paid_principal).where(
                t.due_items.c.account_id == "A1", t.due_items.c.seq == 1
            )
        )
    assert owed == 50000  # never negative


def test_a_due_item_before_the_account_opened_is_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    feed(client, auth)
    r = client.put(
        "/api/v1/accounts/A1/due-items",
        json={"items": [{"seq": 3, "due_on": "2025-12-01", "principal": "1.00"}]},
        headers=auth,
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body.items.0.due_on"
    assert "before account A1 was opened (2026-01-01)" in r.json()["errors"][0]["detail"]


def test_a_payment_before_the_account_opened_is_refused(
    client: TestClient, auth: dict[str, str], app: App
) -> None:
    feed(client, auth)
    r = _pay(client, auth, "pay-early-1", received_on="2025-12-31")
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["errors"] == [
        {
            "field": "body.received_on",
            "detail": "2025-12-31 is before account A1 was opened (2026-01-01)",
        }
    ]
    with app.engine.connect() as conn:
        assert conn.execute(select(t.payments)).all() == []


def test_amounts_are_plain_bounded_decimals_and_text_has_no_nul(
    client: TestClient, auth: dict[str, str], app: App
) -> None:
    feed(client, auth)
    for n, amount in enumerate(["999999999999999.99", "1000000000.01", "-5", "1e3", "+5"]):
        r = _pay(client, auth, f"pay-bad-{n:04d}", amount=amount)
        assert r.status_code == 422, (amount, r.text)  # type: ignore[attr-defined]
        assert r.json()["errors"][0]["field"] == "body.amount"  # type: ignore[attr-defined]
    ok = _pay(client, auth, "pay-max-0001", amount="1000000000.00")
    assert ok.status_code == 201, ok.text  # type: ignore[attr-defined]
    r = client.put(
        "/api/v1/borrowers/B1",
        json={"name": "张\x00三", "phone": "13812345678", "region": "east"},
        headers=auth,
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body.name"
    r = client.put(
        "/api/v1/borrowers/B1",
        json={"name": "张三", "phone": "13812345678", "region": "e\x00"},
        headers=auth,
    )
    assert r.status_code == 422, r.text
    with app.engine.connect() as conn:
        assert conn.scalar(select(t.borrowers.c.region).where(t.borrowers.c.id == "B1")) is None
