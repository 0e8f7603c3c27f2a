"""Entries deleted from the end of the audit log, or all of them, are found: every appending
transaction signs the log's last entry into an anchor file beside the key ring (and into
ARREARS_AUDIT_ANCHOR_DIR), and `arrears audit verify` — no extra arguments — compares."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from arrears.cli import build
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from tests.integration.privacy.conftest import cli_url

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    ring = KeyRing.generate(source=tmp_path / "keys" / "keys.json")
    ring.save()
    return ring


def _log(db: Engine, ring: KeyRing, n: int = 5, first: int = 0) -> None:
    with db.begin() as conn:
        for i in range(first, first + n):
            audit.append(
                conn,
                ring,
                actor="lead",
                kind=audit.AuditKind.REVEAL,
                subject=f"borrower:B{i}",
                detail={"field": "phone", "reason": "borrower asked to confirm the number"},
                at=T0 + timedelta(minutes=i),
            )


def _cli(db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.delenv("ARREARS_KEYS", raising=False)
    assert ring.source is not None
    monkeypatch.setenv("ARREARS_KEY_FILE", str(ring.source))
    result = CliRunner().invoke(build(), ["--database", cli_url(db), *args])
    return result.exit_code, result.output


def _anchors(ring: KeyRing) -> list[Path]:
    assert ring.source is not None
    return sorted(ring.source.parent.glob("audit-head-*.json"))


def test_the_anchor_follows_every_committed_append(
    db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, ring, 3)
    [path] = _anchors(ring)
    assert json.loads(path.read_text())["seq"] == 3
    assert path.stat().st_mode & 0o777 == 0o600
    _log(db, ring, 2, first=3)
    assert json.loads(path.read_text())["seq"] == 5
    assert _cli(db, ring, monkeypatch, "audit", "verify") == (0, "audit log intact\n")


def test_entries_deleted_from_the_end_are_found(
    db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, ring)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    with db.connect() as conn:  # the chain alone is consistent: only the anchor sees it
        assert [b.seq for b in audit.verify(conn, ring)] == [0]
    code, output = _cli(db, ring, monkeypatch, "audit", "verify")
    assert code == 1
    assert "TAMPERED entries 4-5 deleted from the end of the log" in output
    assert "the log ends at 3" in output


def test_an_emptied_log_is_found(
    db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, ring)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    code, output = _cli(db, ring, monkeypatch, "audit", "verify")
    assert code == 1
    assert "the log is empty but the anchor" in output and "records 5 entries" in output


def test_appends_after_a_truncation_do_not_hide_it(
    db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, ring)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    _log(db, ring, 4, first=10)  # the log grows past the anchored entry again
    [path] = _anchors(ring)
    assert json.loads(path.read_text())["seq"] == 5  # the anchor kept its evidence
    code, output = _cli(db, ring, monkeypatch, "audit", "verify")
    assert code == 1
    assert "entry 5 is not the entry the anchor" in output


def test_a_rolled_back_append_does_not_move_the_anchor(
    db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, ring, 2)
    with pytest.raises(RuntimeError), db.begin() as conn:
        audit.append(conn, ring, actor="a", kind="reveal", subject="s", detail="d", at=T0)
        raise RuntimeError("the request failed after the audit entry")
    [path] = _anchors(ring)
    assert json.loads(path.read_text())["seq"] == 2
    assert _cli(db, ring, monkeypatch, "audit", "verify")[0] == 0


def test_an_edited_anchor_is_refused(
    db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, ring)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    [path] = _anchors(ring)
    forged = json.loads(path.read_text())
    forged["seq"], forged["hash"] = 3, "0" * 64  # without the key the signature cannot follow
    path.write_text(json.dumps(forged))
    code, output = _cli(db, ring, monkeypatch, "audit", "verify")
    assert code == 1 and "is not signed by this key ring" in output


def test_after_a_restore_the_operator_re_anchors(
    db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, ring)
    with db.begin() as conn:  # a restore from last night's backup lost the last two
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    assert _cli(db, ring, monkeypatch, "audit", "verify")[0] == 1
    code, output = _cli(
        db, ring, monkeypatch, "audit", "anchor", "--reason", "restored from backup"
    )
    assert code == 0 and "anchored the audit log at entry 4" in output
    assert _cli(db, ring, monkeypatch, "audit", "verify") == (0, "audit log intact\n")
    with db.connect() as conn:
        [last] = audit.entries(conn, limit=1)
    assert last["kind"] == "anchor" and "restored from backup" in last["detail"]


def test_a_second_anchor_folder_is_written_and_checked(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key ring from the environment has no folder of its own: the configured one holds the
    anchor, and `verify` through the command line finds a truncation with it."""
    ring = KeyRing.generate()
    ring.anchor_dirs = (tmp_path / "anchors",)
    _log(db, ring)
    assert len(list((tmp_path / "anchors").glob("audit-head-*.json"))) == 1
    with db.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    monkeypatch.setenv("ARREARS_KEYS", ring.to_json())
    monkeypatch.setenv("ARREARS_AUDIT_ANCHOR_DIR", str(tmp_path / "anchors"))
    result = CliRunner().invoke(build(), ["--database", cli_url(db), "audit", "verify"])
    assert result.exit_code == 1
    assert "entry 5 deleted from the end of the log" in result.output


def test_a_database_made_again_on_purpose_forgets_its_anchor(tmp_path: Path, ring: KeyRing) -> None:
    """The demo deletes its SQLite file and starts over: its anchor goes with it."""
    from arrears.privacy.anchor import discard_sqlite
    from arrears.store import migrate
    from arrears.store.db import make_engine

    db_file = tmp_path / "demo.db"
    engine = make_engine(f"sqlite:///{db_file}")
    migrate.upgrade(engine)
    _log(engine, ring, 2)
    engine.dispose()
    assert len(_anchors(ring)) == 1
    assert ring.source is not None
    discard_sqlite(db_file, [ring.source.parent])
    assert _anchors(ring) == []


def test_an_append_rolled_back_to_a_savepoint_does_not_move_the_anchor(
    db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, ring, 2)
    with db.begin() as conn:
        savepoint = conn.begin_nested()
        audit.append(conn, ring, actor="a", kind="reveal", subject="s", detail="d", at=T0)
        savepoint.rollback()
    [path] = _anchors(ring)
    assert json.loads(path.read_text())["seq"] == 2
    assert _cli(db, ring, monkeypatch, "audit", "verify")[0] == 0
