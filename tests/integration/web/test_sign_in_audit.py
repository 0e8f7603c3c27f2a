"""Sign-ins and sign-outs go into the tamper-evident audit log (both databases): who, from where,
with what result; never a password, and never a name that is no account's."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from arrears.bootstrap import App
from arrears.privacy import audit
from arrears.services.auth import MAX_FAILURES
from arrears.store.tables_compliance import audit_log
from tests.integration.web.conftest import csrf_of, sign_in

WRONG = "Wrong-Guess-7731"
TYPO_NAME = "S3cret-typed-as-name"  # a password typed into the name field


def _attempt(web: TestClient, username: str, password: str) -> int:
    form = web.get("/login").text
    r = web.post("/login", data={"username": username, "password": password, "csrf": csrf_of(form)})
    return r.status_code


def _entries(app: App) -> list[dict[str, Any]]:
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log)
            .where(audit_log.c.kind.in_(["login", "logout"]))
            .order_by(audit_log.c.seq)
        )
        return [dict(r._mapping) | {"detail": json.loads(r.detail)} for r in rows]


def test_every_sign_in_and_sign_out_is_in_the_audit_log(web: TestClient, app: App) -> None:
    assert _attempt(web, "agent", WRONG) == 401
    assert _attempt(web, TYPO_NAME, WRONG) == 401
    csrf = sign_in(web, "lead")
    assert web.post("/logout", data={"csrf": csrf}).status_code == 303

    got = [(e["kind"], e["actor"], e["subject"], e["detail"]) for e in _entries(app)]
    assert got == [
        ("login", "agent", "web", {"result": "failed", "remote": "testclient"}),
        (
            "login",
            "(unknown)",
            "web",
            {"result": "failed", "remote": "testclient", "account": "no such account"},
        ),
        ("login", "lead", "web", {"result": "signed_in", "remote": "testclient"}),
        ("logout", "lead", "web", {"result": "signed_out", "remote": "testclient"}),
    ]


def test_lock_out_is_audited(web: TestClient, app: App) -> None:
    for _ in range(MAX_FAILURES):
        assert _attempt(web, "agent", WRONG) == 401
    assert _attempt(web, "agent", "demo-password") == 429
    results = [e["detail"]["result"] for e in _entries(app) if e["actor"] == "agent"]
    assert results == ["failed"] * MAX_FAILURES + ["locked"]


def test_no_password_and_no_stray_name_is_written(web: TestClient, app: App) -> None:
    _attempt(web, "agent", WRONG)
    _attempt(web, TYPO_NAME, WRONG)
    sign_in(web, "agent")
    with app.engine.connect() as conn:
        text = " ".join(
            f"{r.actor} {r.subject} {r.detail}" for r in conn.execute(select(audit_log))
        )
    assert "(unknown)" in text and "agent" in text
    for secret in (WRONG, "demo-password", TYPO_NAME):
        assert secret not in text


def test_audit_verify_checks_the_sign_in_entries(web: TestClient, app: App) -> None:
    sign_in(web, "agent")
    _attempt(web, "agent", WRONG)
    with app.engine.connect() as conn:
        assert audit.verify(conn, app.keyring) == []
    with app.engine.begin() as conn:
        first = conn.scalar(select(audit_log.c.seq).where(audit_log.c.kind == "login").limit(1))
        conn.execute(  # someone hides that the sign-in came from another address
            update(audit_log)
            .where(audit_log.c.seq == first)
            .values(detail=json.dumps({"remote": "10.0.0.1", "result": "signed_in"}))
        )
    with app.engine.connect() as conn:
        breaks = audit.verify(conn, app.keyring)
    assert [b.seq for b in breaks] == [first]
