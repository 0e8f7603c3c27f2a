"""Shared fixtures. `db` runs a storage test once on SQLite and once on PostgreSQL.

PostgreSQL comes from $ARREARS_TEST_POSTGRES_URL (CI points it at the machine's server); each
test gets a schema of its own, so tests may run in parallel. Without a reachable server the
PostgreSQL half is skipped, unless $ARREARS_REQUIRE_POSTGRES=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from arrears.privacy.keyring import KeyRing
from arrears.store import migrate
from arrears.store.db import make_engine, normalise_url

PG_URL = os.environ.get("ARREARS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_engine() -> Iterator[Engine]:
    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        if os.environ.get("ARREARS_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    url = normalise_url(PG_URL)
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'arrears.db'}")
        migrate.upgrade(engine)
        yield engine
        engine.dispose()
    else:
        for engine in _postgres_engine():
            migrate.upgrade(engine)
            yield engine


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.generate()
