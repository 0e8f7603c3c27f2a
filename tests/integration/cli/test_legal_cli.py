"""`arrears legal …` end to end on both databases: a rule, the daily run refers a case at DPD
120, the queue lists it, the demand letter is written as a PDF (mode 0600, never over a file)
only when the rule pack allows a letter, moves along the path, an illegal move refused (exit 2,
nothing changed), the history shows who moved it and when."""

from __future__ import annotations

import io
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from typer.testing import CliRunner

from arrears.cli import build
from arrears.services.users import seed_demo_users
from tests import factories as f
from tests.integration.privacy.conftest import cli_url

AS_OF = date(2026, 11, 29)


def _cli(db: Engine, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(build(), ["--database", cli_url(db), *args])
    assert result.exit_code == code, result.output
    return result.output


def test_legal_commands(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARREARS_KEYS", f.RING.to_json())
    monkeypatch.chdir(tmp_path)
    day = ("--as-of", AS_OF.isoformat())
    with db.begin() as conn:
        seed_demo_users(conn)
        f.borrower(conn, "B1", name="王建国", address_enc=f.RING.encrypt("上海市黄浦区1号"))
        f.account(conn, "A1", "B1", [(AS_OF - timedelta(days=120), 250_000, 0)])
        f.borrower(conn, "B2", phone="+8613800000002", name="李四")
        f.account(conn, "A2", "B2", [(AS_OF - timedelta(days=100), 250_000, 0)])
    bad = _cli(
        db, "legal", "rule", "add", "--min-dpd", "120", "--min-balance", "5", "--by", "m", code=2
    )
    assert "needs its currency" in bad
    added = _cli(
        db, "legal", "rule", "add", "--min-dpd", "120", "--currency", "CNY",
        "--min-balance", "1000", "--by", "manager",
    )  # fmt: skip
    assert "legal rule 1 added: DPD ≥ 120, balance ≥ CN¥1,000.00" in added
    assert "no cases in legal" in _cli(db, "legal", "list")
    _cli(db, "run-day", *day)
    listed = _cli(db, "legal", "list")
    assert "case 1  referred" in listed and "by nightly (rule 1) at DPD 120" in listed
    assert "case 2" not in listed  # DPD 100

    night = ("--at", "2026-11-29T23:30:00+08:00")
    refused = _cli(db, "legal", "letter", "1", *day, "--by", "agent3", *night, code=3)
    assert "not sent: the rule pack says defer" in refused and "cn.time_window" in refused
    assert not (tmp_path / "demand-letter-1.pdf").exists()
    assert "agent" in _cli(db, "legal", "letter", "1", *day, "--by", "agent", code=2)  # early team

    noon = ("--at", "2026-11-30T10:00:00+08:00")
    made = _cli(db, "legal", "letter", "1", *day, "--by", "agent3", *noon)
    pdf = tmp_path / "demand-letter-1.pdf"
    assert "demand letter 1 for case 1 (zh-CN) written to demand-letter-1.pdf" in made
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert "王建国" in text and "¥2,500.00" in text and "2026年12月13日" in text
    again = tmp_path / "again.pdf"
    _cli(db, "legal", "document", "1", "--out", str(again), "--by", "lead2")
    assert again.read_bytes() == pdf.read_bytes()
    assert "exists" in _cli(
        db, "legal", "document", "1", "--out", str(again), "--by", "lead2", code=2
    )

    wrong = _cli(db, "legal", "advance", "1", "--to", "enforcement", *day, "--by", "lead2", code=2)
    assert "demand_letter_sent cannot move to enforcement" in wrong
    assert "may move to filed, closed, withdrawn" in wrong
    assert "sued" in _cli(
        db, "legal", "advance", "1", "--to", "sued", *day, "--by", "lead2", code=2
    )
    filed = _cli(db, "legal", "advance", "1", "--to", "filed", *day, "--by", "lead2", "--note", "X")
    assert "case 1  filed" in filed
    shown = _cli(db, "legal", "show", "1")
    assert "next: judgment, closed, withdrawn" in shown
    assert "— → referred  by nightly" in shown
    assert "referred → demand_letter_sent  by agent3" in shown
    assert "demand_letter_sent → filed  by lead2" in shown and "(X)" in shown

    assert "in legal already" in _cli(db, "legal", "refer", "1", *day, "--by", "lead2", code=2)
    assert "team lead" in _cli(db, "legal", "refer", "2", *day, "--by", "agent3", code=2)
    assert "case 2  referred" in _cli(db, "legal", "refer", "2", *day, "--by", "lead2")
    assert "case 2" in _cli(db, "legal", "list", "--status", "referred")
