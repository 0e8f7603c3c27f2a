"""Who may see and do what: each refusal is a 401/403, never a page with data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from arrears.bootstrap import App
from arrears.services.auth import MAX_FAILURES, SignInLocked, authenticate
from arrears.store import tables as t
from arrears.store.tables_compliance import audit_log
from tests.integration.web.conftest import csrf_of, sign_in


def _case_of(app: App, borrower: str) -> int:
    with app.engine.connect() as conn:
        return int(conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower)))


def test_pages_need_a_session(web: TestClient) -> None:
    r = web.get("/agent")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert web.post("/agent/next", data={}).status_code == 401


def test_agent_cannot_open_a_case_of_another_team(web: TestClient, app: App) -> None:
    sign_in(web, "agent")
    late = _case_of(app, "B2")  # in the late-stage team's queue
    r = web.get(f"/cases/{late}")
    assert r.status_code == 403 and "赵" not in r.text


def test_agent_cannot_open_a_case_assigned_to_a_colleague(web: TestClient, app: App) -> None:
    mine = _case_of(app, "B1")
    with app.engine.begin() as conn:
        conn.execute(update(t.cases).where(t.cases.c.id == mine).values(assigned_to="agent2"))
    sign_in(web, "agent")
    assert web.get(f"/cases/{mine}").status_code == 403
    web.cookies.clear()
    sign_in(web, "agent2")
    assert web.get(f"/cases/{mine}").status_code == 200


def test_agent_cannot_reveal_personal_data(web: TestClient, app: App) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    r = web.post(f"/cases/{case_id}/reveal", data={"csrf": csrf, "reason": "borrower asked"})
    assert r.status_code == 403 and "13812345678" not in r.text


def test_team_lead_reveals_with_a_reason_and_it_is_audited(web: TestClient, app: App) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "lead")
    assert "13812345678" not in web.get(f"/cases/{case_id}").text
    r = web.post(f"/cases/{case_id}/reveal", data={"csrf": csrf, "reason": ""})
    assert r.status_code == 422 and "13812345678" not in r.text
    # five to nine characters are not a reason either (docs/privacy.md: 10 or more)
    r = web.post(f"/cases/{case_id}/reveal", data={"csrf": csrf, "reason": "check ok!"})
    assert r.status_code == 422 and "13812345678" not in r.text
    r = web.post(f"/cases/{case_id}/reveal", data={"csrf": csrf, "reason": "verify identity"})
    assert r.status_code == 200 and "+8613812345678" in r.text and "王小明" in r.text
    with app.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.kind != "login")).all()
    assert [(r.kind, r.actor, r.subject) for r in rows] == [("reveal", "lead", "B1")]
    assert "verify identity" in rows[0].detail


def test_manager_reads_but_cannot_record(web: TestClient, app: App) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "manager")
    assert web.get(f"/cases/{case_id}").status_code == 200
    r = web.post(
        f"/cases/{case_id}/promise", data={"csrf": csrf, "amount": "10", "due_on": "2026-03-05"}
    )
    assert r.status_code == 403
    assert web.get("/admin/users").status_code == 403


def test_agent_cannot_approve_plans_or_see_dashboards(web: TestClient) -> None:
    csrf = sign_in(web, "agent")
    assert web.post("/lead/plans/1/approve", data={"csrf": csrf}).status_code == 403
    assert web.get("/lead").status_code == 403
    assert web.get("/manager").status_code == 403
    assert web.get("/compliance").status_code == 403


def test_lock_out_after_repeated_failures(web: TestClient, app: App) -> None:
    for _ in range(MAX_FAILURES):
        form = web.get("/login").text
        r = web.post(
            "/login", data={"username": "agent", "password": "wrong-guess!", "csrf": csrf_of(form)}
        )
        assert r.status_code == 401
    form = web.get("/login").text
    r = web.post(
        "/login", data={"username": "agent", "password": "demo-password", "csrf": csrf_of(form)}
    )
    assert r.status_code == 429  # even the right password waits out the lock
    later = datetime(2026, 3, 2, 2, 15, tzinfo=UTC)  # 15 minutes after the first failure
    secret = web.app.state.ctx.secret  # type: ignore[attr-defined]
    try:
        authenticate(
            app.engine, "agent", "demo-password", later - timedelta(minutes=1), secret=secret
        )
        raise AssertionError("still locked a minute before the end")
    except SignInLocked:
        pass
    assert authenticate(app.engine, "agent", "demo-password", later, secret=secret) == "agent"


def test_sign_out_ends_the_session(web: TestClient) -> None:
    csrf = sign_in(web, "agent")
    sid = web.cookies.get("arrears_session")
    web.post("/logout", data={"csrf": csrf})
    web.cookies.set("arrears_session", sid or "", domain="testserver")
    assert web.get("/agent").status_code == 303
