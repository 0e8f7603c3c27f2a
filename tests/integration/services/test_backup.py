"""`arrears backup create` then `arrears backup verify`, the whole round trip on SQLite (online
backup API) and PostgreSQL (pg_dump of one snapshot, pg_restore into a scratch database that is
dropped afterwards): schema at head, the manifest's row counts, personal data that opens with
the key ring — and clear refusals for a key ring that does not fit and for rows that differ."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from arrears.cli import build
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.backup import BackupKeyRingMismatch, create_backup, verify_backup
from arrears.services.importing import import_directory
from arrears.store.db import make_engine
from tests.conftest import PG_URL
from tests.integration.privacy.conftest import cli_url

FIXTURE = Path(__file__).parents[2] / "fixtures" / "import" / "good"
AT = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def _book(db: Engine, keyring: KeyRing) -> None:
    import_directory(db, keyring, FIXTURE)  # names, phones and e-mails encrypted
    with db.begin() as conn:
        audit.append(
            conn,
            keyring,
            actor="ops",
            kind=audit.AuditKind.IMPORT,
            subject="import:good",
            detail={"files": 5},
            at=AT,
        )


def _cli(db: Engine, *args: str) -> Result:
    return CliRunner().invoke(build(), ["--database", cli_url(db), "backup", *args])


def _verify_databases() -> set[str]:
    admin = make_engine(PG_URL)
    try:
        with admin.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE 'arrears_verify_%'")
            ).scalars()
            return set(names)
    finally:
        admin.dispose()


def test_backup_round_trip_restores_counts_and_decrypts(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch
) -> None:
    _book(db, keyring)
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    before = _verify_databases() if db.dialect.name == "postgresql" else set()
    out = tmp_path / "backup-2026-02-16"
    made = _cli(db, "create", "--out", str(out))
    assert made.exit_code == 0, made.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"]["borrowers"] == 3 and manifest["rows"]["contacts"] == 3
    assert manifest["revision"] is not None
    assert KeyRing.from_json((out / "keys.json").read_text()).keys == keyring.keys
    assert oct((out / "keys.json").stat().st_mode & 0o777) == "0o600"

    checked = _cli(db, "verify", str(out))
    assert checked.exit_code == 0, checked.output
    assert "backup verified" in checked.output
    report = verify_backup(out, scratch_url=cli_url(db))
    assert report.head == manifest["revision"] and not report.upgraded
    assert report.rows == sum(manifest["rows"].values())
    assert report.decrypted >= 3 + 3  # at least every borrower's and contact's name

    # a backup taken again into the same directory is refused: one directory per backup
    again = _cli(db, "create", "--out", str(out))
    assert again.exit_code == 2 and "not empty" in again.output

    # the wrong key ring: named as such, no trace
    other = tmp_path / "other-keys.json"
    other.write_text(KeyRing.generate().to_json())
    wrong = _cli(db, "verify", str(out), "--keys", str(other))
    assert wrong.exit_code == 1, wrong.output
    assert "does not fit" in wrong.output and "Traceback" not in wrong.output

    # a manifest whose counts the restore does not match
    manifest["rows"]["borrowers"] = 4
    (out / "manifest.json").write_text(json.dumps(manifest))
    differ = _cli(db, "verify", str(out))
    assert differ.exit_code == 1, differ.output
    assert "borrowers: 4 in the manifest, 3 restored" in differ.output
    if db.dialect.name == "postgresql":
        assert _verify_databases() == before  # every scratch database was dropped


def test_a_ring_with_the_same_key_id_but_another_key_is_refused(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    """Key ids alone prove nothing: the data itself must open."""
    _book(db, keyring)
    create_backup(db, keyring, tmp_path / "b", now=AT)
    forged = json.loads(keyring.to_json())
    kid = forged["active"]
    forged["keys"][kid] = json.loads(KeyRing.generate().to_json())["keys"].popitem()[1]
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    with pytest.raises(BackupKeyRingMismatch, match=f"its key {kid} does not open"):
        verify_backup(tmp_path / "b", keys=tmp_path / "forged.json", scratch_url=cli_url(db))
