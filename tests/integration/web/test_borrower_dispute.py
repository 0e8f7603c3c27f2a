"""A dispute from the borrower's own page (SQLite and PostgreSQL): once they proved who they are,
"I dispute this debt" records a dispute (source borrower), flags them and pauses collection: the
next run plans nothing for the case; a reason is required."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.engine.run_day import run_day
from arrears.privacy.links import make_token
from arrears.services.disputes import list_disputes
from arrears.store import tables as t
from arrears.store.tables_compliance import borrower_flags
from arrears.web.app import create_app
from tests.integration.web.conftest import DAY1, NOW


def test_the_borrower_disputes_the_debt_on_their_page(app: App) -> None:
    page = TestClient(
        create_app(app, business_date=DAY1, clock=lambda: NOW),
        base_url="https://testserver",
        follow_redirects=False,
    )
    with app.engine.connect() as conn:
        case_id = conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == "B1"))
    link = "/b/" + make_token(app.keyring, int(case_id), date(2026, 3, 16))
    # not before they prove who they are
    assert page.post(link + "/dispute", data={"reason": "x", "csrf": "x"}).status_code == 404
    assert page.post(link + "/verify", data={"id_last4": "1234"}).status_code == 303
    home = page.get(link).text
    assert 'data-testid="dispute"' in home and "我对这笔欠款有异议" in home
    csrf = re.search(r'name="csrf" value="([^"]+)"', home).group(1)  # type: ignore[union-attr]
    blank = page.post(link + "/dispute", data={"csrf": csrf, "reason": "  "})
    assert blank.status_code == 422 and "请填写异议原因" in blank.text
    r = page.post(link + "/dispute", data={"csrf": csrf, "reason": "这笔贷款一月已还清"})
    assert r.status_code == 303
    assert "核实期间暂停催收" in page.get(r.headers["location"]).text
    with app.engine.connect() as conn:
        (d,) = list_disputes(conn)
        flags = conn.execute(select(borrower_flags.c.flag, borrower_flags.c.since)).all()
    assert (d.source, d.case_id, d.reason, d.raised_on) == (
        "borrower",
        case_id,
        "这笔贷款一月已还清",
        DAY1,
    )
    assert [tuple(f) for f in flags] == [("dispute", DAY1)]
    day = DAY1 + timedelta(days=2)  # the strategy's day-3 steps are due: none for the case
    run_day(app.engine, day)
    with app.engine.connect() as conn:
        planned = conn.execute(
            select(t.actions.c.id).where(
                t.actions.c.case_id == case_id, t.actions.c.business_date == day
            )
        ).all()
    assert planned == []
