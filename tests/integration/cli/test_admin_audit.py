"""Tokens, users, imports and daily runs leave audit entries (who, what, when), and the chain
still verifies; a token's expiry is chosen when it is issued."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from arrears.cli import build
from arrears.privacy.keyring import KeyRing
from arrears.store.tables_compliance import audit_log
from arrears.store.tables_web import integration_tokens
from tests.integration.privacy.conftest import cli_url

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "import" / "good"


def _cli(db: Engine, *args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(build(), ["--database", cli_url(db), *args], input=input)
    assert result.exit_code == 0, result.output
    return result.output


def _entries(db: Engine) -> list[tuple[str, str, str, dict[str, object]]]:
    with db.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()
    return [(r.kind, r.actor, r.subject, json.loads(r.detail)) for r in rows]


def test_tokens_users_imports_and_runs_are_audited(
    db: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    secret = _cli(db, "tokens", "issue", "core", "--days", "30", "--by", "ops").strip()
    token_id = secret.split("_")[1]
    _cli(db, "tokens", "revoke", token_id, "--by", "ops")
    password = "a-long-password-1"
    _cli(db, "users", "add", "li", "--role", "agent", "--by", "ops", input=f"{password}\n" * 2)
    _cli(db, "users", "disable", "li", "--by", "ops")
    _cli(db, "import", str(FIXTURES), "--by", "ops")
    _cli(db, "run-day", "--as-of", "2026-03-02", "--by", "night-shift")
    got = _entries(db)
    kinds = [(k, actor, subject) for k, actor, subject, _ in got]
    assert kinds == [
        ("token", "ops", f"token:{token_id}"),
        ("token", "ops", f"token:{token_id}"),
        ("user", "ops", "user:li"),
        ("user", "ops", "user:li"),
        ("import", "ops", "import:good"),
        ("run", "night-shift", "run:2026-03-02"),
    ]
    assert got[5][3]["as_of"] == "2026-03-02" and "cases_opened" in got[5][3]
    issued = got[0][3]
    assert issued["action"] == "issued" and issued["name"] == "core"
    assert got[1][3] == {"action": "revoked"}
    assert [got[2][3]["action"], got[3][3]["action"]] == ["added", "disabled"]
    assert "borrowers.csv" in str(got[4][3]["files"])
    text = json.dumps(got)
    assert secret.split("_", 2)[2] not in text and password not in text  # never a secret
    with db.connect() as conn:
        row = conn.execute(select(integration_tokens)).one()
    assert (row.expires_at - row.created_at).days == 30
    assert _cli(db, "audit", "verify").startswith("audit log intact")
