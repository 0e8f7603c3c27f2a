"""schemathesis over the whole API, statefully: sequences of calls follow the OpenAPI links (a
borrower → their account → its due items and payments; a webhook → its deletion; the cases →
one case → its interactions, promises and plans) on SQLite and PostgreSQL. No call may answer
5xx, and every answer keeps to the schema (status code, content type, body). Bounded: a few
dozen sequences of a few steps each."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from sqlalchemy import Engine, insert, text

from arrears.bootstrap import App
from arrears.privacy.keyring import KeyRing
from arrears.services import webhooks
from arrears.services.auth import ALL_SCOPES, issue_token
from arrears.store import tables as t
from arrears.store.schema import metadata
from arrears.web.app import create_app
from tests.integration.api.conftest import NOW, TODAY, make_app

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def _seed(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        conn.execute(
            insert(t.borrowers).values(
                id="B1",
                name_enc=keyring.encrypt("张三"),
                phone_enc=keyring.encrypt("+8613812345678"),
            )
        )
        conn.execute(
            insert(t.accounts).values(
                id="A1",
                borrower_id="B1",
                product="loan",
                currency="CNY",
                principal=100000,
                opened_on=date(2026, 1, 1),
            )
        )
        conn.execute(
            insert(t.cases).values(
                borrower_id="B1", opened_on=date(2026, 2, 2), currency="CNY", overdue_amount=5000
            )
        )


def _reset(db: Engine, keyring: KeyRing) -> None:
    """Every example starts from the same data (and the same ids), so the sequences hypothesis
    replays while shrinking meet the same answers."""
    kept = {"integration_tokens", "alembic_version"}
    tables = [tb for tb in metadata.sorted_tables if tb.name not in kept]
    with db.begin() as conn:
        if db.dialect.name == "postgresql":
            names = ", ".join(tb.name for tb in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(table.delete())
            if conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first():
                conn.execute(text("DELETE FROM sqlite_sequence"))
    _seed(db, keyring)


def _seeded(db: Engine, keyring: KeyRing, tmp_path: Path) -> tuple[App, str]:
    app = make_app(db, keyring, tmp_path)
    with db.begin() as conn:
        token = issue_token(conn, "schemathesis", ALL_SCOPES, NOW)
    _seed(db, keyring)
    return app, token


def test_the_links_are_in_the_published_schema(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    app, _ = _seeded(db, keyring, tmp_path)
    schema = create_app(app).openapi()
    put_borrower = schema["paths"]["/api/v1/borrowers/{borrower_id}"]["put"]
    links = put_borrower["responses"]["200"]["links"]
    assert set(links) == {"PutContactOfBorrower", "PutAccountOfBorrower"}
    assert links["PutAccountOfBorrower"]["requestBody"] == {"borrower_id": "$response.body#/id"}
    hook = schema["paths"]["/api/v1/webhooks"]["post"]["responses"]
    assert hook["201"]["links"]["DeleteWebhook"]["parameters"] == {
        "path.webhook_id": "$response.body#/id"
    }
    assert "413" in hook  # every call with a body may be refused as too large


def test_api_statefully_never_fails_and_keeps_to_its_schema(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, token = _seeded(db, keyring, tmp_path)
    # webhook hosts are generated names: they resolve to a public address here, so webhooks get
    # made and the links to their deletion are followed
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: ["93.184.215.14"])
    schema = schemathesis.openapi.from_asgi(
        "/api/v1/openapi.json", create_app(app, business_date=TODAY, clock=lambda: NOW)
    )

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def teardown(self) -> None:
            _reset(db, keyring)

        def before_call(self, case: schemathesis.Case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

        def validate_response(
            self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=25,
            stateful_step_count=5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
    )
