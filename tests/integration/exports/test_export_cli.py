"""`arrears export` end to end (both databases): the user's role decides the masking; an
unknown user, kind or a role not allowed is a clear error that writes no file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import Engine, select
from typer.testing import CliRunner, Result

from arrears.cli import build as cli
from arrears.privacy.keyring import KeyRing
from arrears.store.tables_compliance import audit_log
from tests.integration.exports.book import AS_OF, WANG_PHONE, build
from tests.integration.privacy.conftest import cli_url


def _export(db: Engine, ring: KeyRing, *args: str) -> Result:
    env = {"ARREARS_KEYS": ring.to_json()}
    return CliRunner().invoke(cli(), ["--database", cli_url(db), "export", *args], env=env)


def test_export_as_a_user(db: Engine, keyring: KeyRing, tmp_path: Path) -> None:
    build(db, keyring)
    day = ["--as-of", AS_OF.isoformat()]
    masked = tmp_path / "cases.csv"
    done = _export(db, keyring, "cases", *day, "--out", str(masked), "--as", "zhao.lead")
    assert done.exit_code == 0, done.output
    assert "1 rows of cases" in done.output and "personal data masked" in done.output
    text = masked.read_text("utf-8-sig")
    assert WANG_PHONE not in text and "王芳" not in text
    # a team lead exports the cases of the team's queues only (B2's case is the late team's)
    assert [r["borrower_id"] for r in csv.DictReader(text.splitlines())] == ["B1"]
    promises = tmp_path / "promises.csv"
    args = ["promises", *day, "--from", "2026-03-01", "--out", str(promises)]
    assert _export(db, keyring, *args, "--as", "zhao.lead").exit_code == 0
    assert len(promises.read_text("utf-8-sig").splitlines()) == 1 + 1  # B1's promise only
    with db.connect() as conn:
        detail = conn.scalar(
            select(audit_log.c.detail).where(audit_log.c.actor == "zhao.lead").limit(1)
        )
    assert json.loads(detail)["filters"] == {"as_of": "2026-03-02", "queues": "early"}
    everyone = tmp_path / "promises-all.csv"
    args = ["promises", *day, "--from", "2026-03-01", "--out", str(everyone)]
    assert _export(db, keyring, *args, "--as", "li.manager").exit_code == 0
    assert len(everyone.read_text("utf-8-sig").splitlines()) == 1 + 2
    assert masked.stat().st_mode & 0o077 == 0  # its owner reads it only

    clear = tmp_path / "cases.xlsx"
    args = ["cases", *day, "--format", "xlsx", "--out", str(clear), "--as", "qian.compliance"]
    done = _export(db, keyring, *args)
    assert done.exit_code == 0, done.output
    sheet = load_workbook(clear, read_only=True)["cases"]
    phones = [r[3] for r in sheet.iter_rows(values_only=True)]
    assert WANG_PHONE in phones and len(phones) == 1 + 2  # compliance sees every case

    again = _export(db, keyring, *args)  # never overwrites
    assert again.exit_code == 2 and "exists" in again.output

    for args, said in (
        (["debts", "--as", "li.manager"], "no export 'debts'"),
        (["cases", "--as", "nobody"], "no user 'nobody'"),
        (["cases", "--as", "chen.agent"], "the role agent may not export cases"),
        (["cases", "--as", "li.manager", "--format", "pdf"], "no format 'pdf'"),
    ):
        out = tmp_path / "refused.csv"
        result = _export(db, keyring, *args, *day, "--out", str(out))
        assert result.exit_code == 2, result.output
        assert said in result.output
        assert not out.exists() and not list(tmp_path.glob(".*.part"))
