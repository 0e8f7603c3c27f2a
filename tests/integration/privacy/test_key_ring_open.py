"""A missing or different key ring is an error naming the path and the key ids the data needs;
a new ring is made by itself only for an empty database, or by `arrears keys init`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from arrears.bootstrap import App
from arrears.cli import build
from arrears.config import Settings
from arrears.privacy import audit
from arrears.privacy.keycheck import KeyRingMismatch, KeyRingMissing, open_key_ring
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from tests.integration.privacy.conftest import cli_url

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _borrower(db: Engine, ring: KeyRing) -> None:
    with db.begin() as conn:
        conn.execute(
            insert(t.borrowers).values(
                id="B1",
                name_enc=ring.encrypt("王芳"),
                phone_enc=ring.encrypt("+8613800000001"),
                phone_index=ring.blind_index("+8613800000001"),
            )
        )


def test_an_empty_database_gets_a_new_ring(db: Engine, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    ring = open_key_ring(db, keys_json=None, key_file=key_file)
    assert key_file.exists() and ring.source == key_file
    assert open_key_ring(db, keys_json=None, key_file=key_file).keys == ring.keys


def test_a_missing_key_file_is_an_error_when_data_needs_it(db: Engine, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    ring = open_key_ring(db, keys_json=None, key_file=key_file)
    _borrower(db, ring)
    key_file.unlink()
    with pytest.raises(KeyRingMissing) as caught:
        open_key_ring(db, keys_json=None, key_file=key_file)
    message = str(caught.value)
    assert str(key_file.resolve()) in message and ring.active in message
    assert not key_file.exists()  # nothing made behind the operator's back


def test_a_different_ring_is_an_error(db: Engine, tmp_path: Path) -> None:
    ring = KeyRing.generate()
    _borrower(db, ring)
    other = KeyRing.generate()
    with pytest.raises(KeyRingMismatch) as caught:
        open_key_ring(db, keys_json=other.to_json(), key_file=tmp_path / "k.json")
    assert ring.active in str(caught.value) and "ARREARS_KEYS" in str(caught.value)
    # same key id, other key material: found by opening a sample
    twin = KeyRing({ring.active: other.keys[other.active]}, ring.active, b"x" * 32)
    with pytest.raises(KeyRingMismatch, match="does not open data"):
        open_key_ring(db, keys_json=twin.to_json(), key_file=tmp_path / "k.json")
    assert open_key_ring(db, keys_json=ring.to_json(), key_file=tmp_path / "k.json").keys


def test_an_audit_log_alone_needs_its_ring(db: Engine, tmp_path: Path) -> None:
    ring = KeyRing.generate()
    with db.begin() as conn:
        audit.append(conn, ring, actor="a", kind="login", subject="web", detail="d", at=T0)
    with pytest.raises(KeyRingMissing, match="audit log"):
        open_key_ring(db, keys_json=None, key_file=tmp_path / "keys.json")
    with pytest.raises(KeyRingMismatch, match="audit log"):
        open_key_ring(db, keys_json=KeyRing.generate().to_json(), key_file=tmp_path / "k.json")


def test_the_command_line_says_what_is_missing_and_keys_init_makes_a_ring(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = KeyRing.generate()
    _borrower(db, ring)
    key_file = tmp_path / "keys.json"
    monkeypatch.delenv("ARREARS_KEYS", raising=False)
    monkeypatch.setenv("ARREARS_KEY_FILE", str(key_file))
    app = App(Settings(database_url=cli_url(db), key_file=key_file))
    with pytest.raises(KeyRingMissing):
        _ = app.keyring
    runner = CliRunner()
    refused = runner.invoke(build(), ["--database", cli_url(db), "keys", "init"])
    assert refused.exit_code == 2 and "--force" in refused.output and not key_file.exists()
    made = runner.invoke(build(), ["--database", cli_url(db), "keys", "init", "--force"])
    assert made.exit_code == 0 and key_file.exists()
    again = runner.invoke(build(), ["--database", cli_url(db), "keys", "init", "--force"])
    assert again.exit_code == 2 and "already exists" in again.output


def test_the_command_says_it_in_one_line(db: Engine, tmp_path: Path) -> None:
    """Through the installed command: exit 2, one line naming the path, no traceback."""
    import os
    import subprocess
    import sys

    _borrower(db, KeyRing.generate())
    key_file = tmp_path / "keys.json"
    env = {**os.environ, "ARREARS_DATABASE_URL": cli_url(db), "ARREARS_KEY_FILE": str(key_file)}
    env.pop("ARREARS_KEYS", None)
    arrears = Path(sys.executable).parent / "arrears"
    done = subprocess.run(
        [str(arrears), "keys", "status"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: no key file at") and str(key_file.resolve()) in line
    assert not key_file.exists()
