"""`arrears compliance use-pack / map-jurisdiction / jurisdictions` and `arrears disputes`:
what the next run uses changes at once, each change audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from arrears.cli import build
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from arrears.store.tables_compliance import (
    audit_log,
    borrower_flags,
    gate_rulings,
)
from tests.integration.privacy.conftest import cli_url

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "import" / "good"


def _cli(db: Engine, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(build(), ["--database", cli_url(db), *args])
    assert result.exit_code == code, result.output
    return result.output


def _packs(db: Engine, day: str) -> dict[str, set[str]]:
    """borrower -> the packs the day's plan decisions were taken under."""
    a = t.actions.c
    with db.connect() as conn:
        rows = conn.execute(
            select(gate_rulings.c.pack, a.business_date, t.cases.c.borrower_id)
            .join(t.actions, gate_rulings.c.id == a.ruling_id)
            .join(t.cases, t.cases.c.id == a.case_id)
        )
        found: dict[str, set[str]] = {}
        for r in rows:
            if str(r.business_date)[:10] == day:
                found.setdefault(r.borrower_id, set()).add(r.pack)
        return found


def test_use_pack_and_map_jurisdiction_drive_the_next_run(
    db: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    monkeypatch.setenv("ARREARS_RULE_PACK", "cn")  # the installation's default
    _cli(db, "import", str(FIXTURES), "--by", "ops")
    with db.begin() as conn:
        conn.execute(update(t.borrowers).where(t.borrowers.c.id == "B3").values(jurisdiction="GB"))
    _cli(db, "compliance", "use-pack", "us", "--by", "officer", "--reason", "US lender")
    _cli(db, "compliance", "map-jurisdiction", "gb", "uk", "--by", "officer", "--reason", "UK")
    out = _cli(db, "compliance", "jurisdictions")
    assert "GB: uk" in out and "(any other, or none): us" in out
    why = ("--by", "o", "--reason", "x")
    err = _cli(db, "compliance", "map-jurisdiction", "Britain", "uk", *why, code=2)
    assert "US-CA" in err
    _cli(db, "compliance", "map-jurisdiction", "FR", "atlantis", *why, code=2)
    _cli(db, "run-day", "--as-of", "2026-03-02", "--by", "night-shift")
    # B3 (GB) under uk, B1 (no jurisdiction) under the default set by use-pack, not the env's cn
    assert _packs(db, "2026-03-02") == {"B1": {"us"}, "B3": {"uk"}}
    with db.connect() as conn:
        entries = conn.execute(
            select(audit_log.c.subject, audit_log.c.detail).where(audit_log.c.kind == "rule_pack")
        ).all()
    assert [(s, json.loads(d)["to"]) for s, d in entries] == [
        ("rule_pack", "us"),
        ("jurisdiction:GB", "uk"),
    ]


def test_disputes_commands(db: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    _cli(db, "import", str(FIXTURES), "--by", "ops")
    out = _cli(
        db, "disputes", "record", "--borrower", "B1", "--on", "2026-03-02", "--by", "officer"
    )
    assert "paused" in out
    listed = _cli(db, "disputes", "list", "--on", "2026-04-05")
    assert "B1" in listed and "due 2026-04-01" in listed and "OVERDUE" in listed
    dispute_id = listed.split()[0]
    _cli(db, "disputes", "verify", dispute_id, "--on", "2026-03-09", "--by", "officer")
    assert "no disputes" in _cli(db, "disputes", "list")
    err = _cli(db, "disputes", "withdraw", dispute_id, "--on", "2026-03-09", "--by", "o", code=2)
    assert "already verified" in err
    with db.connect() as conn:
        flag = conn.execute(select(borrower_flags.c.flag, borrower_flags.c.lifted_on)).one()
    assert flag.flag == "dispute" and str(flag.lifted_on)[:10] == "2026-03-09"
