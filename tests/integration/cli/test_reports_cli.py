"""`arrears cases --json` and `arrears actions --json` over more cases than one statement may
bind parameters (65,535 on PostgreSQL): streamed, every case there (both databases)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text
from typer.testing import CliRunner

from arrears.store import tables as t
from arrears.store.bulk import insert_rows

CASES = 70_000  # more than PostgreSQL's 65,535 parameters of one statement
AS_OF = date(2026, 3, 1)


def _url(db: Engine) -> str:
    if db.dialect.name == "sqlite":
        return str(db.url)
    with db.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    return db.url.render_as_string(hide_password=False) + f"?options=-csearch_path%3D{schema}"


def _portfolio(db: Engine) -> None:
    ids = [f"B{n:06d}" for n in range(CASES)]
    with db.begin() as conn:
        insert_rows(conn, t.borrowers, [{"id": b} for b in ids])
        insert_rows(
            conn,
            t.accounts,
            [
                {
                    "id": f"A{b[1:]}-{k}",
                    "borrower_id": b,
                    "product": "instalment_loan",
                    "currency": "CNY",
                    "opened_on": date(2025, 1, 1),
                }
                for b in ids
                for k in (1, 2)
            ],
        )
        insert_rows(
            conn,
            t.cases,
            [
                {
                    "borrower_id": b,
                    "opened_on": date(2026, 2, 1),
                    "currency": "CNY",
                    "dpd": 28,
                    "overdue_amount": 12345,
                }
                for b in ids
            ],
        )


def test_cases_json_lists_every_case_past_the_parameter_limit(db: Engine, tmp_path: Path) -> None:
    from arrears.cli import build

    _portfolio(db)
    env = {"ARREARS_KEY_FILE": str(tmp_path / "keys.json"), "ARREARS_KEYS": ""}
    result = CliRunner().invoke(
        build(), ["--database", _url(db), "cases", "--as-of", AS_OF.isoformat(), "--json"], env=env
    )
    assert result.exit_code == 0, result.output[-2000:]
    cases = json.loads(result.stdout)
    assert len(cases) == CASES
    assert [c["case_id"] for c in cases] == sorted(c["case_id"] for c in cases)
    first = cases[0]
    assert first["borrower_id"] == "B000000"
    assert first["account_ids"] == ["A000000-1", "A000000-2"]
    assert first["overdue_amount"] == "123.45" and first["dpd"] == 28
    assert cases[-1]["account_ids"] == [f"A{CASES - 1:06d}-1", f"A{CASES - 1:06d}-2"]


def test_reports_print_an_empty_list_as_json_and_a_header_as_text(
    db: Engine, tmp_path: Path
) -> None:
    from arrears.cli import build

    env = {"ARREARS_KEY_FILE": str(tmp_path / "keys.json"), "ARREARS_KEYS": ""}
    url = _url(db)
    for command in ("cases", "actions"):
        result = CliRunner().invoke(
            build(), ["--database", url, command, "--as-of", "2026-03-01", "--json"], env=env
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == []
    result = CliRunner().invoke(
        build(), ["--database", url, "cases", "--as-of", "2026-03-01"], env=env
    )
    assert result.stdout.splitlines() == [
        "case_id  borrower_id  dpd  bucket  overdue_amount  status"
    ]
