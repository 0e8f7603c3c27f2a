"""An API client over a migrated database (SQLite and PostgreSQL) and a token per scope set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from arrears.bootstrap import App
from arrears.config import Settings
from arrears.privacy.keyring import KeyRing
from arrears.services.auth import ALL_SCOPES, Scope, issue_token
from arrears.web.app import create_app

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TODAY = date(2026, 3, 2)


def make_app(db: Engine, keyring: KeyRing, tmp_path: Path) -> App:
    app = App(Settings(database_url=str(db.url), outbox_dir=tmp_path / "outbox"))
    app.engine = db  # type: ignore[misc]
    app.keyring = keyring  # type: ignore[misc]
    return app


@pytest.fixture
def app(db: Engine, keyring: KeyRing, tmp_path: Path) -> App:
    return make_app(db, keyring, tmp_path)


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    web = create_app(app, business_date=TODAY, clock=lambda: NOW)
    with TestClient(web, base_url="https://testserver") as c:
        yield c


def token(app: App, scopes: frozenset[Scope] = ALL_SCOPES, name: str = "core") -> dict[str, str]:
    with app.engine.begin() as conn:
        secret = issue_token(conn, name, scopes, NOW)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def auth(app: App) -> dict[str, str]:
    return token(app)


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """argon2 with test-sized parameters: the same code path, milliseconds instead of seconds."""
    from argon2 import PasswordHasher

    from arrears.services import auth

    before = auth._hasher
    auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    auth.use_hasher(before)
