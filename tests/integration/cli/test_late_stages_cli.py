"""The late stages from the command line (SQLite and PostgreSQL): a debt sale of charged-off
accounts — all or nothing, personal data only in the buyer's file, audited, the accounts sold
and out of collection; settlement offers within and beyond an agent's limit; recoveries."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from arrears.cli import build
from arrears.engine.run_day import run_day
from arrears.privacy import audit
from arrears.privacy.masking import Role
from arrears.services.users import add_user
from arrears.store import tables as t
from arrears.store.tables_late import debt_sale_accounts
from tests import factories as f
from tests.integration.privacy.conftest import cli_url

DUE = date(2026, 1, 1)
NAMES = {"B1": "林小梅", "B2": "Zhou Min", "B3": "吴刚"}


def _cli(db: Engine, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(build(), ["--database", cli_url(db), *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def book(db: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Three borrowers due 1 Jan: B1 and B2 charged off on 30 Jun, B3 (due in March) not."""
    monkeypatch.setenv("ARREARS_KEYS", f.RING.to_json())
    with db.begin() as conn:
        for n, bid in enumerate(NAMES, start=1):
            f.borrower(conn, bid, name=NAMES[bid], phone=f"+861380000000{n}")
        f.account(conn, "A1", "B1", [(DUE, 300_000, 0)])
        f.account(conn, "A2", "B2", [(DUE, 120_050, 0)])
        f.account(conn, "A3", "B3", [(date(2026, 3, 1), 80_000, 0)])
        add_user(conn, "wang", "a-long-password", Role.AGENT, at=datetime.now(UTC))
        add_user(conn, "chen", "a-long-password", Role.TEAM_LEAD, at=datetime.now(UTC))
    for day in (date(2026, 1, 2), date(2026, 3, 2), date(2026, 6, 30)):
        run_day(db, day)
    return db


def _status(db: Engine) -> dict[str, str]:
    with db.connect() as conn:
        return dict(conn.execute(select(t.accounts.c.id, t.accounts.c.status)).all())


def test_a_debt_sale_is_all_or_nothing_and_personal_data_only_in_the_buyers_file(
    book: Engine, tmp_path: Path
) -> None:
    db = book
    assert _status(db) == {"A1": "charged_off", "A2": "charged_off", "A3": "active"}
    listed = tmp_path / "accounts.csv"
    listed.write_text("account_id\nA1\nA3\nNOPE\n", encoding="utf-8")
    out = tmp_path / "sale.csv"
    err = _cli(
        db, "debt-sale", "export", "--accounts", str(listed), "--out", str(out),
        "--buyer", "Eastern Recoveries", "--on", "2026-07-05", "--by", "ops", code=2,
    )  # fmt: skip
    assert "A3 is active, not charged_off" in err and "NOPE is unknown" in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
    assert _status(db)["A1"] == "charged_off"  # nothing sold

    said = _cli(
        db, "debt-sale", "export", "--charged-off-before", "2026-07-01", "--out", str(out),
        "--buyer", "Eastern Recoveries", "--on", "2026-07-05", "--by", "ops",
    )  # fmt: skip
    assert "2 accounts" in said and "4200.50 CNY" in said
    assert not any(name in said for name in NAMES.values())
    assert out.stat().st_mode & 0o077 == 0  # the owner's only
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["account_id"], r["balance"], r["currency"], r["dpd"]) for r in rows] == [
        ("A1", "3000.00", "CNY", "185"),
        ("A2", "1200.50", "CNY", "185"),
    ]
    assert [(r["name"], r["charged_off_on"]) for r in rows] == [
        ("林小梅", "2026-06-30"),
        ("Zhou Min", "2026-06-30"),
    ]
    assert _status(db) == {"A1": "sold", "A2": "sold", "A3": "active"}
    with db.connect() as conn:
        entries = audit.entries(conn, kind="export")
        sold = conn.execute(select(debt_sale_accounts.c.account_id)).scalars().all()
        cases = dict(conn.execute(select(t.cases.c.borrower_id, t.cases.c.status)).all())
    assert sorted(sold) == ["A1", "A2"]
    assert cases == {"B1": "sold", "B2": "sold", "B3": "open"}
    [entry] = [e for e in entries if e["subject"].startswith("debt-sale:")]
    detail = json.loads(entry["detail"])
    assert (detail["buyer"], detail["accounts"], detail["balances"]) == (
        "Eastern Recoveries",
        2,
        {"CNY": "4200.50"},
    )
    assert not any(name in entry["detail"] for name in NAMES.values())
    assert "+8613800000001" not in entry["detail"]

    # sold accounts leave collection: the next run opens nothing for them
    run_day(db, date(2026, 7, 6))
    with db.connect() as conn:
        cases = dict(conn.execute(select(t.cases.c.borrower_id, t.cases.c.status)).all())
    assert cases == {"B1": "sold", "B2": "sold", "B3": "open"}
    # selling again: nothing left, the file not overwritten
    again = tmp_path / "again.csv"
    err = _cli(
        db, "debt-sale", "export", "--charged-off-before", "2026-07-01", "--out", str(again),
        "--buyer", "X", "--on", "2026-07-06", "--by", "ops", code=2,
    )  # fmt: skip
    assert "nothing to sell" in err and not again.exists()
    err = _cli(
        db, "debt-sale", "export", "--accounts", str(listed), "--out", str(out),
        "--buyer", "X", "--on", "2026-07-06", "--by", "ops", code=2,
    )  # fmt: skip
    assert "exists" in err


def test_settlement_offers_and_recoveries_from_the_command_line(book: Engine) -> None:
    db = book
    with db.connect() as conn:
        case_3 = conn.execute(
            select(t.cases.c.id).where(t.cases.c.borrower_id == "B3")
        ).scalar_one()
    within = _cli(
        db, "settlement", "offer", "--case", str(case_3), "--pay", "95", "--due", "2026-07-20",
        "--on", "2026-07-01", "--by", "wang",
    )  # fmt: skip
    assert "approved" in within and "5% off" in within
    err = _cli(
        db, "settlement", "offer", "--case", str(case_3), "--pay", "60", "--due", "2026-07-20",
        "--on", "2026-07-01", "--by", "wang", code=2,
    )  # fmt: skip
    assert "already has offer 1" in err
    _cli(db, "settlement", "cancel", "1", "--on", "2026-07-01")
    beyond = _cli(
        db, "settlement", "offer", "--case", str(case_3), "--pay", "60", "--due", "2026-07-20",
        "--on", "2026-07-01", "--by", "wang",
    )  # fmt: skip
    assert "proposed" in beyond and "waits" in beyond
    err = _cli(db, "settlement", "approve", "2", "--on", "2026-07-02", "--by", "chen", code=2)
    assert "a team_lead grants up to 30% off" in err
    # the lender's own limits: a team lead may grant 40% here
    limits = "agent=10,team_lead=40,manager=50"
    ok = _cli(
        db, "settlement", "approve", "2", "--on", "2026-07-02", "--by", "chen",
        "--limits", limits,
    )  # fmt: skip
    assert "approved by chen" in ok
    listed = _cli(db, "settlement", "list", "--status", "approved")
    assert listed.count("offer ") == 1 and "offer 2" in listed

    with db.begin() as conn:
        f.payment(conn, "R1", "A1", 50_000, date(2026, 7, 3))
    run_day(db, date(2026, 7, 3))
    report = _cli(db, "report", "recoveries", "--from", "2026-07-01", "--to", "2026-07-31")
    assert "A1  CNY  2026-06-30  3000.00  1  500.00  500.00" in report
    assert "total CNY: 1 accounts, 1 payments, 500.00 recovered" in report
    assert "no recoveries" in _cli(
        db, "report", "recoveries", "--from", "2026-06-01", "--to", "2026-07-02"
    )
