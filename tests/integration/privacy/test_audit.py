"""The audit log is hash-chained: editing or deleting one row in the database is named by
`arrears audit verify`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from arrears.cli import build
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from tests.integration.privacy.conftest import cli_url

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _log(db: Engine, ring: KeyRing, n: int = 5) -> None:
    with db.begin() as conn:
        for i in range(n):
            audit.append(
                conn,
                ring,
                actor="lead",
                kind=audit.AuditKind.REVEAL,
                subject=f"borrower:B{i}",
                detail={"field": "phone", "reason": "borrower asked to confirm the number"},
                at=T0 + timedelta(minutes=i),
            )


def _verify(db: Engine, ring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("ARREARS_KEYS", ring.to_json())
    result = CliRunner().invoke(build(), ["--database", cli_url(db), "audit", "verify"])
    return result.exit_code, result.output


def test_intact_log_verifies(db: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> None:
    _log(db, keyring)
    code, output = _verify(db, keyring, monkeypatch)
    assert code == 0 and output.startswith("audit log intact\n")
    # a ring from the environment without an anchor folder: the command says what it cannot see
    assert "not anchored outside the database" in output


def test_an_edited_entry_is_named(
    db: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, keyring)
    with db.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'someone_else' WHERE seq = 3"))
    code, output = _verify(db, keyring, monkeypatch)
    assert code == 1
    assert output.strip().splitlines() == [
        "TAMPERED entry 3: was edited: its content does not match its hash"
    ]


def test_a_deleted_entry_is_named(
    db: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(db, keyring)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    code, output = _verify(db, keyring, monkeypatch)
    assert code == 1 and "entry 3: entry 2 before it was deleted" in output


def test_a_rewritten_chain_without_the_key_does_not_verify(db: Engine, keyring: KeyRing) -> None:
    _log(db, keyring, 2)
    forger = KeyRing.generate()  # same algorithm, different key: the chain cannot be recomputed
    with db.connect() as conn:
        assert audit.verify(conn, keyring) == []
        assert len(audit.verify(conn, forger)) == 2
