"""schemathesis: requests generated from the OpenAPI schema never make the server fail, and every
response matches the schema (status codes, content types, bodies)."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from sqlalchemy import insert

from arrears.bootstrap import App
from arrears.config import Settings
from arrears.privacy.keyring import KeyRing
from arrears.services.auth import ALL_SCOPES, issue_token
from arrears.store import migrate
from arrears.store import tables as t
from arrears.store.db import make_engine
from arrears.web.app import create_app
from tests.integration.api.conftest import NOW, TODAY


def _app() -> tuple[App, str]:
    workdir = Path(tempfile.mkdtemp(prefix="arrears-schema-"))
    engine = make_engine(f"sqlite:///{workdir / 'arrears.db'}")
    migrate.upgrade(engine)
    app = App(Settings(database_url=str(engine.url), outbox_dir=workdir / "outbox"))
    app.engine = engine  # type: ignore[misc]
    app.keyring = KeyRing.generate()  # type: ignore[misc]
    ring = app.keyring
    with engine.begin() as conn:
        token = issue_token(conn, "schemathesis", ALL_SCOPES, NOW)
        conn.execute(
            insert(t.borrowers).values(
                id="B1", name_enc=ring.encrypt("张三"), phone_enc=ring.encrypt("+8613812345678")
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
    return app, token


APP, TOKEN = _app()
schema = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json", create_app(APP, business_date=TODAY, clock=lambda: NOW)
)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails_and_keeps_to_its_schema(case: schemathesis.Case) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
    case.call_and_validate(
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
        ]
    )
