"""The `integration` role (the lender's own systems, API tokens): no workbench, 403 at sign-in and
on every page; listed with its role in user admin; the team lead's pages keep working."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from arrears.bootstrap import App
from arrears.services.auth import hash_password
from arrears.store.tables_compliance import audit_log
from arrears.store.tables_web import sessions, users
from arrears.web.people import HOME, ROLES, creatable_roles
from tests.integration.web.conftest import csrf_of, sign_in

PASSWORD = "integration-pass-1"


@pytest.fixture
def integration_user(app: App) -> str:
    with app.engine.begin() as conn:
        conn.execute(
            insert(users).values(
                username="core-banking",
                display_name="Core banking feed",
                password_hash=hash_password(PASSWORD),
                role="integration",
                created_at=datetime(2026, 3, 1, tzinfo=UTC),
            )
        )
    return "core-banking"


def test_every_role_is_known_to_the_web() -> None:
    assert ROLES == (
        "agent",
        "team_lead",
        "manager",
        "strategist",
        "compliance",
        "admin",
        "integration",
    )
    assert "integration" not in HOME  # no workbench page
    assert set(HOME) == set(ROLES) - {"integration"}
    assert set(creatable_roles()) >= set(HOME)


def test_integration_user_is_refused_the_workbench(
    web: TestClient, app: App, integration_user: str
) -> None:
    form = web.get("/login").text
    r = web.post(
        "/login",
        data={"username": integration_user, "password": PASSWORD, "csrf": csrf_of(form)},
    )
    assert r.status_code == 403
    assert "HTTP API" in r.text or "接口" in r.text
    assert "arrears_session" not in r.cookies
    with app.engine.connect() as conn:
        assert conn.scalar(select(sessions.c.id_hash)) is None  # no session opened
        entry = conn.execute(
            select(audit_log).where(audit_log.c.kind == "login").order_by(audit_log.c.seq.desc())
        ).first()
    assert entry is not None and entry.actor == integration_user
    assert json.loads(entry.detail)["result"] == "refused"
    for page in ("/", "/agent", "/lead", "/manager", "/compliance", "/admin/users"):
        assert web.get(page).status_code in (303, 401)  # still signed out: to the sign-in form


def test_wrong_password_for_an_integration_user_is_a_plain_failure(
    web: TestClient, integration_user: str
) -> None:
    form = web.get("/login").text
    r = web.post(
        "/login",
        data={"username": integration_user, "password": "not-the-one!", "csrf": csrf_of(form)},
    )
    assert r.status_code == 401  # the role is not given away without the password


def test_a_session_of_an_account_made_integration_gets_403_everywhere(
    web: TestClient, app: App
) -> None:
    sign_in(web, "agent")
    assert web.get("/agent").status_code == 200
    with app.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == "agent").values(role="integration"))
    for page in ("/", "/agent", "/lead", "/admin/users"):
        r = web.get(page)
        assert r.status_code == 403, page
        assert "仅用于系统接口" in r.text  # the refusal, in the page language
    assert web.post("/agent/next", data={"csrf": "x"}).status_code == 403


def test_user_admin_lists_integration_accounts(
    web: TestClient, app: App, integration_user: str
) -> None:
    sign_in(web, "admin")
    r = web.get("/admin/users")
    assert r.status_code == 200
    row = re.search(r"<tr><td><bdi data-i18n-ignore>core-banking</bdi> .*?</tr>", r.text, re.S)
    assert row is not None
    assert 'data-role="integration"' in row.group(0)
    for role in ("agent", "team_lead", "admin"):
        assert f'data-role="{role}"' in r.text
    offered = re.findall(r"<option value=\"([a-z_]+)\">", r.text)
    assert {"agent", "team_lead", "manager", "compliance", "admin"} <= set(offered)
    # disabling the account works like any other
    csrf = csrf_of(r.text)
    done = web.post(f"/admin/users/{integration_user}/active", data={"csrf": csrf})
    assert done.status_code == 303
    with app.engine.connect() as conn:
        assert conn.scalar(select(users.c.active).where(users.c.username == integration_user)) in (
            False,
            0,
        )


def test_team_lead_pages_ignore_integration_accounts(
    web: TestClient, app: App, integration_user: str
) -> None:
    sign_in(web, "lead")
    r = web.get("/lead")
    assert r.status_code == 200
    assert "core-banking" not in r.text
    assert "agent2" in r.text


def test_cli_creates_and_lists_an_integration_account(db, keyring, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from arrears.cli import build
    from tests.integration.privacy.conftest import cli_url

    def run(*args: str, given: str = "") -> str:
        result = CliRunner().invoke(
            build(),
            ["--database", cli_url(db), "users", *args],
            input=given,
            env={"ARREARS_KEYS": keyring.to_json()},
        )
        assert result.exit_code == 0, result.output
        return result.output

    added = run("add", "core-feed", "--role", "integration", given="long-enough-pass\n" * 2)
    assert "added core-feed (integration)" in added
    assert "core-feed\tintegration" in run("list")
