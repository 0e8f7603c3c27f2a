"""`arrears agency …` end to end on both databases: add an agency and a rule, issue its token,
place a case at DPD 90 with its files, read the month's commission, recall — and bad input
refused with a message naming what is wrong (exit 2, nothing written)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from arrears.cli import build
from tests import factories as f
from tests.integration.privacy.conftest import cli_url

AS_OF = date(2026, 10, 30)


def _cli(db: Engine, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(build(), ["--database", cli_url(db), *args])
    assert result.exit_code == code, result.output
    return result.output


def test_agency_commands(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARREARS_KEYS", f.RING.to_json())
    place = ("agency", "place", "--as-of", AS_OF.isoformat(), "--out", str(tmp_path))
    m = ("--by", "m")
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(AS_OF - timedelta(days=90), 100_000, 0)])
        f.payment(conn, "P1", "A1", 40_000, AS_OF)
    out = _cli(db, "agency", "add", "north", "--name", "North", "--tiers", "0:15,120:20", *m)
    assert "agency north added" in out and "from 120 20 %" in out
    bad = _cli(db, "agency", "add", "south", "--name", "S", "--tiers", "30:15", *m, code=2)
    assert "day 0" in bad
    assert "error" in _cli(db, "agency", "rule", "add", "south", "--min-dpd", "90", *m, code=2)
    assert "rule 1 added" in _cli(db, "agency", "rule", "add", "north", "--min-dpd", "90", *m)
    assert "DPD ≥ 90  no active plan  → north" in _cli(db, "agency", "rule", "list")
    assert _cli(db, "agency", "token", "north", "--by", "admin").strip().startswith("arr_")
    _cli(db, "run-day", "--as-of", AS_OF.isoformat())
    placed = _cli(db, *place)
    assert placed.startswith("north: 1 placed")
    assert (tmp_path / "north-2026-10-30.csv").exists()
    assert (tmp_path / "north-2026-10-30.xlsx").exists()
    assert "no case to place" in _cli(db, *place)
    assert "placed 1" in _cli(db, "agency", "list")
    rows = json.loads(_cli(db, "agency", "commission", "--month", "2026-10", "--json"))
    assert rows == [
        {
            "agency": "north",
            "currency": "CNY",
            "tier_from_days": 0,
            "rate_percent": "15",
            "payments": 1,
            "recovered": "400.00",
            "commission": "60.00",
        }
    ]
    assert "YYYY-MM" in _cli(db, "agency", "commission", "--month", "2026-13", code=2)
    assert "not placed" in _cli(
        db, "agency", "recall", "99", "--as-of", "2026-11-01", "--by", "l", code=2
    )
    out = _cli(db, "agency", "recall", "--agency", "north", "--as-of", "2026-11-01", "--by", "lead")
    assert out.startswith("1 recalled")
    assert "placed 0" in _cli(db, "agency", "list")
