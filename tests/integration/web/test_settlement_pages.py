"""Settlement offers on the web (SQLite and PostgreSQL), in Chinese and English: an agent offers
70% from the case's settlement page, the offer waits; the agent's own approval is refused in
the page's language; the team lead approves from the offers waiting; the manager's page shows
the recoveries after charge-off."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from arrears.store.tables_late import settlement_offers, write_offs
from tests import factories as f
from tests.integration.web.conftest import sign_in

_RAW = ("proposed", "approved", "team_lead", "SettlementApprovalRefused")


def _case(app: App, bid: str) -> int:
    with app.engine.connect() as conn:
        return int(
            conn.execute(select(t.cases.c.id).where(t.cases.c.borrower_id == bid)).scalar_one()
        )


def _visible(html: str) -> str:
    """The page's text without tags and attribute values."""
    return re.sub(r"<[^>]+>", " ", html)


def test_an_agent_offers_a_team_lead_approves(web: TestClient, app: App) -> None:
    case_id = _case(app, "B1")
    csrf = sign_in(web, "agent")
    page = web.get(f"/settlements?case={case_id}")
    assert page.status_code == 200 and 'data-testid="settlement-form"' in page.text
    assert "还款比例" in page.text  # the agent's language is Chinese
    r = web.post(
        "/settlements/offer",
        data={"csrf": csrf, "case_id": str(case_id), "pay": "70", "due_on": "2026-03-20"},
    )
    assert r.status_code == 303, r.text
    page = web.get(r.headers["location"]).text
    assert 'data-status="proposed"' in page and "待审批" in page
    offer_id = int(re.search(r'data-testid="offer-(\d+)"', page).group(1))  # type: ignore[union-attr]
    refused = web.post(f"/settlements/{offer_id}/approve", data={"csrf": csrf, "back": "case"})
    assert refused.status_code == 422
    assert "提出人不能自己审批" in refused.text
    assert not any(raw in _visible(refused.text) for raw in _RAW)

    web.cookies.clear()
    sign_in(web, "lead2")  # the late team's lead: not a case of theirs
    assert f'data-testid="offer-{offer_id}"' not in web.get("/settlements").text
    web.cookies.clear()
    csrf = sign_in(web, "lead")
    waiting = web.get("/settlements")
    assert f'data-testid="approve-offer-{offer_id}"' in waiting.text
    assert web.post(f"/settlements/{offer_id}/approve", data={"csrf": csrf}).status_code == 303
    with app.engine.connect() as conn:
        row = conn.execute(
            select(settlement_offers.c.status, settlement_offers.c.approved_by)
        ).one()
    assert tuple(row) == ("approved", "lead")
    web.get("/lang/en?back=/settlements")
    english = web.get(f"/settlements?case={case_id}").text
    assert "Approved" in english and "Share to pay" in english


def test_a_bad_share_is_refused_with_the_form_kept(web: TestClient, app: App) -> None:
    case_id = _case(app, "B1")
    csrf = sign_in(web, "agent")
    r = web.post(
        "/settlements/offer",
        data={"csrf": csrf, "case_id": str(case_id), "pay": "abc", "due_on": "2026-03-20"},
    )
    assert r.status_code == 422
    assert "还款比例须为 0 到 100 之间的数字" in r.text and 'value="2026-03-20"' in r.text
    with app.engine.connect() as conn:
        assert conn.execute(select(settlement_offers.c.id)).first() is None


def test_the_managers_page_shows_recoveries_after_charge_off(web: TestClient, app: App) -> None:
    with app.engine.begin() as conn:
        f.borrower(conn, "B9")
        f.account(conn, "A9", "B9", [(date(2025, 9, 1), 100_000, 0)])
    run_day(app.engine, date(2026, 2, 28))  # DPD 180 on 28 Feb: charged off
    with app.engine.begin() as conn:
        assert conn.execute(select(write_offs.c.account_id)).scalars().all() == ["A9"]
        f.payment(conn, "R9", "A9", 25_000, date(2026, 3, 1))
    run_day(app.engine, date(2026, 3, 1))
    sign_in(web, "manager")
    page = web.get("/manager").text
    row = re.search(r'data-testid="recovered-CNY">(.*?)</tr>', page, re.S)
    assert row is not None and "250.00" in row.group(1)
    assert "核销后回收" in page
