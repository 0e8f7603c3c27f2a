"""A small portfolio that falls behind, the demo users, and a signed-in browser-like client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from arrears.bootstrap import App
from arrears.engine.run_day import run_day
from arrears.privacy.keyring import KeyRing
from arrears.services.users import DEMO_PASSWORD, seed_demo_users
from arrears.store import tables as t
from arrears.web.app import create_app
from tests.integration.api.conftest import cheap_password_hashing, make_app  # noqa: F401

# The borrower's first instalment was due on 1 March; on 2 March the account is one day past due.
DUE = date(2026, 3, 1)
DAY1 = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def add_borrower(
    app: App,
    bid: str,
    *,
    name: str,
    phone: str,
    id_number: str,
    queue: str = "early",
    principal: int = 300000,
    contacts: tuple[tuple[str, str, str, str], ...] = (),
) -> None:
    ring = app.keyring
    with app.engine.begin() as conn:
        conn.execute(
            insert(t.borrowers).values(
                id=bid,
                name_enc=ring.encrypt(name),
                phone_enc=ring.encrypt(phone),
                phone_index=ring.blind_index(phone),
                id_number_enc=ring.encrypt(id_number),
                risk_score=600,
            )
        )
        for cid, cname, rel, cphone in contacts:
            conn.execute(
                insert(t.contacts).values(
                    id=cid,
                    borrower_id=bid,
                    name_enc=ring.encrypt(cname),
                    relationship=rel,
                    phone_enc=ring.encrypt(cphone),
                    phone_index=ring.blind_index(cphone),
                    consent=True,
                )
            )
        conn.execute(
            insert(t.accounts).values(
                id=f"A-{bid}",
                borrower_id=bid,
                product="instalment_loan",
                currency="CNY",
                principal=principal,
                annual_rate_ppm=180000,
                penalty_rate_ppm=50000,
                opened_on=date(2025, 12, 1),
            )
        )
        third = principal // 3
        for seq, due in enumerate((date(2026, 1, 1), date(2026, 2, 1), DUE, date(2026, 4, 1)), 1):
            paid = seq <= 2
            conn.execute(
                insert(t.due_items).values(
                    account_id=f"A-{bid}",
                    seq=seq,
                    due_on=due,
                    principal=third // 1,
                    interest=4500,
                    paid_principal=third if paid else 0,
                    paid_interest=4500 if paid else 0,
                )
            )
    del queue


def portfolio(app: App) -> None:
    add_borrower(
        app,
        "B1",
        name="王小明",
        phone="+8613812345678",
        id_number="110101199001011234",
        contacts=(
            ("C1", "李红", "spouse", "+8613900001111"),
            ("C2", "王大伟", "sibling", "+8613700002222"),
        ),
    )
    add_borrower(app, "B2", name="赵六", phone="+8613611112222", id_number="220101198502021111")
    with app.engine.begin() as conn:
        seed_demo_users(conn)
    run_day(app.engine, DAY1)
    with app.engine.begin() as conn:  # the second borrower is worked by the late-stage team
        conn.execute(t.cases.update().where(t.cases.c.borrower_id == "B2").values(queue="late"))


@pytest.fixture
def app(db: Engine, keyring: KeyRing, tmp_path: Path) -> App:
    app = make_app(db, keyring, tmp_path)
    portfolio(app)
    return app


@pytest.fixture
def web(app: App) -> Iterator[TestClient]:
    with TestClient(
        create_app(app, business_date=DAY1, clock=lambda: NOW),
        base_url="https://testserver",
        follow_redirects=False,
    ) as c:
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no csrf field on the page"
    return m.group(1)


def sign_in(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    form = client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(form.text)},
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get(r.headers["location"]).text)
