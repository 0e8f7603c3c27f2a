"""The strategist's page: deploy a file, a second strategist approves it with a share, roll
back — in Chinese words, refusals said plainly, every step audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from arrears.bootstrap import App
from arrears.privacy import audit
from arrears.privacy.masking import CLEAR, Role
from arrears.services.users import add_user
from arrears.strategy.loader import BUILTIN
from tests.integration.web.conftest import sign_in

SOURCE = BUILTIN["seed_challenger_day3"].read_text(encoding="utf-8")
PASSWORD = "strategist-pass"


def _strategists(app: App) -> None:
    with app.engine.begin() as conn:
        add_user(conn, "lin", PASSWORD, Role.STRATEGIST)
        add_user(conn, "zhao", PASSWORD, Role.STRATEGIST)


def _status(page: str) -> str:
    m = re.search(
        r'data-testid="version-seed_challenger_day3-1">.*?data-status="(\w+)"', page, re.S
    )
    assert m, page
    return m.group(1)


def test_deploy_approve_and_roll_back_from_the_page(web: TestClient, app: App) -> None:
    _strategists(app)
    csrf = sign_in(web, "lin", PASSWORD)
    page = web.get("/strategies").text
    assert "尚未部署策略" in page and "部署新版本" in page
    r = web.post("/strategies/deploy", data={"csrf": csrf, "source": SOURCE.replace("\n", "\r\n")})
    assert r.status_code == 303
    page = web.get(r.headers["location"]).text
    assert "已部署，等待另一位用户审批" in page and _status(page) == "pending"
    assert "待审批" in page and ">pending<" not in page  # the status in words, not its code

    # the author may not approve it: refused in Chinese, nothing changes
    form = {"csrf": csrf, "active_from": "2026-03-03", "shares": "challenger_day3=30"}
    r = web.post("/strategies/seed_challenger_day3/1/approve", data=form)
    assert r.status_code == 422
    assert "部署人不能批准自己部署的版本" in r.text and _status(r.text) == "pending"

    # a broken file: the positions of its errors, no English sentence
    r = web.post("/strategies/deploy", data={"csrf": csrf, "source": "strategy: x\nsteps: 3\n"})
    assert r.status_code == 422 and "策略文件有错误" in r.text and "第 " in r.text
    assert "must" not in r.text

    web.cookies.clear()
    csrf = sign_in(web, "zhao", PASSWORD)
    r = web.post("/strategies/seed_challenger_day3/1/approve", data={**form, "csrf": csrf})
    assert r.status_code == 303
    page = web.get("/strategies").text
    assert _status(page) == "approved" and "challenger_day3</bdi> 30%" in page

    r = web.post(
        "/strategies/seed_challenger_day3/rollback",
        data={"csrf": csrf, "active_from": "2026-03-05"},
    )
    assert r.status_code == 303
    assert _status(web.get("/strategies").text) == "rolled_back"
    with app.engine.connect() as conn:
        entries = audit.entries(conn, kind=audit.AuditKind.STRATEGY.value)
    assert [(e["actor"], e["subject"]) for e in reversed(entries)] == [
        ("lin", "strategy:seed_challenger_day3:v1"),
        ("zhao", "strategy:seed_challenger_day3:v1"),
        ("zhao", "strategy:seed_challenger_day3:v1"),
    ]


def test_a_strategist_sees_no_personal_data_and_an_agent_no_strategies(
    web: TestClient, app: App
) -> None:
    assert CLEAR[Role.STRATEGIST] == frozenset()
    _strategists(app)
    sign_in(web, "lin", PASSWORD)
    assert web.get("/strategies").status_code == 200
    assert web.get("/manager").status_code == 200  # the results, aggregates only
    assert web.get("/agent").status_code in (403, 303)
    web.cookies.clear()
    sign_in(web, "agent")
    assert web.get("/strategies").status_code == 403


def test_an_admin_can_add_a_strategist(web: TestClient) -> None:
    csrf = sign_in(web, "admin")
    page = web.get("/admin/users").text
    assert '<option value="strategist">策略师</option>' in page
    r = web.post(
        "/admin/users",
        data={"csrf": csrf, "username": "wu", "password": PASSWORD, "role": "strategist"},
    )
    assert r.status_code == 303
    assert 'data-role="strategist">策略师' in web.get("/admin/users").text
