"""A database never upgraded: commands that need the schema say to run `arrears db upgrade`,
with no traceback (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import _postgres_engine

ARREARS = Path(sys.executable).parent / "arrears"
GOOD = Path(__file__).parent.parent.parent / "fixtures" / "import" / "good"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def never_upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database that was never upgraded."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    for engine in _postgres_engine():
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        url = engine.url.render_as_string(hide_password=False)
        yield f"{url}?options=-csearch_path%3D{schema}"


@pytest.mark.parametrize(
    "command",
    [
        ["import", str(GOOD)],
        ["run-day", "--as-of", "2026-02-01"],
        ["cases", "--as-of", "2026-02-01"],
    ],
)
def test_a_command_on_a_database_never_upgraded_says_run_db_upgrade(
    never_upgraded: str, tmp_path: Path, command: list[str]
) -> None:
    env = {
        **os.environ,
        "ARREARS_DATABASE_URL": never_upgraded,
        "ARREARS_KEY_FILE": str(tmp_path / "keys.json"),
    }
    env.pop("ARREARS_KEYS", None)
    done = subprocess.run([str(ARREARS), *command], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert "has no arrears schema yet (it was never upgraded)" in lines[0]
    assert lines[0].endswith("run `arrears db upgrade` first")
