"""Every ISO 4217 currency through the whole loop (SQLite and PostgreSQL): a TWD book and a BHD
book (three decimals) imported with `arrears import`, run with `arrears run-day` — a payment
posted, cases opened, actions planned, money conserved — amounts written right in both
locales; an unknown code is refused at import."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from arrears.cli import build
from arrears.domain.money import MINOR_UNITS
from arrears.formats import format_minor
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from tests.integration.privacy.conftest import cli_url

BORROWERS = """borrower_id,name,phone,email,timezone,language,region,risk_score
{p}B1,Lin Mei,+886 912 345 678,lin.mei@example.tw,Asia/Taipei,en,north,600
{p}B2,Chen Wei,+886 912 345 679,chen.wei@example.tw,Asia/Taipei,zh-CN,north,580
"""
ACCOUNTS = """account_id,borrower_id,product,currency,principal,annual_rate,penalty_rate,opened_on
{p}A1,{p}B1,instalment_loan,{c},{a1},0.18,0.05,2025-12-01
{p}A2,{p}B2,instalment_loan,{c},{a2},0.12,0.05,2025-12-01
"""
DUE_ITEMS = """account_id,seq,due_on,principal,interest,fee
{p}A1,1,2026-01-15,{a1},{i1},0
{p}A2,1,2026-01-15,{a2},{i2},0
"""
PAYMENTS = """payment_id,account_id,amount,currency,received_on
{p}P1,{p}A1,{pay},{c},2026-01-16
"""

# currency -> amounts as written in the extract, the payment's minor units, the due minor units
BOOKS = {
    "TWD": dict(a1="30000.00", i1="450.50", a2="12000", i2="120.25", pay="10000.50"),
    "BHD": dict(a1="300.125", i1="4.505", a2="120.000", i2="1.250", pay="100.005"),
}


def _write(folder: Path, currency: str, **values: str) -> Path:
    folder.mkdir()
    fields = {"p": currency, "c": currency, **values}
    for name, body in [
        ("borrowers.csv", BORROWERS),
        ("accounts.csv", ACCOUNTS),
        ("due_items.csv", DUE_ITEMS),
        ("payments.csv", PAYMENTS),
    ]:
        (folder / name).write_text(body.format(**fields), encoding="utf-8")
    return folder


def _cli(db: Engine, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(build(), ["--database", cli_url(db), *args])
    assert result.exit_code == code, result.output
    return result.output


def test_the_minor_units_are_iso_4217s() -> None:
    # Babel's standard digits, not its cash ones (TWD has 0 cash digits but 2 in ISO 4217)
    assert {c: MINOR_UNITS[c] for c in ("TWD", "BHD", "JPY", "KRW", "CLF", "CNY")} == {
        "TWD": 2,
        "BHD": 3,
        "JPY": 0,
        "KRW": 0,
        "CLF": 4,
        "CNY": 2,
    }
    assert "XYZ" not in MINOR_UNITS and len(MINOR_UNITS) > 150


def test_a_twd_and_a_bhd_book_through_the_whole_loop(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    for currency, values in BOOKS.items():
        _cli(db, "import", str(_write(tmp_path / currency, currency, **values)), "--by", "ops")
    with db.connect() as conn:
        paid = dict(conn.execute(select(t.payments.c.id, t.payments.c.amount)).all())
    assert paid == {"TWDP1": 1_000_050, "BHDP1": 100_005}  # in the minor unit: 3 decimals

    for day in ("2026-01-16", "2026-01-17", "2026-01-18", "2026-01-19"):
        _cli(db, "run-day", "--as-of", day)

    with db.connect() as conn:
        posted = conn.execute(
            select(func.count()).select_from(t.payments).where(t.payments.c.posted_on.is_not(None))
        ).scalar_one()
        cases = set(conn.execute(select(t.cases.c.borrower_id, t.cases.c.currency)).all())
        actions = conn.execute(select(func.count()).select_from(t.actions)).scalar_one()
        items = conn.execute(select(t.due_items)).mappings().all()
        accounts = {r["id"]: r for r in conn.execute(select(t.accounts)).mappings()}
    assert posted == 2
    assert cases == {(f"{c}B{n}", c) for c in BOOKS for n in (1, 2)}
    assert actions > 0

    # money conserved: the payment is settled on the items or held as credit, and what is
    # overdue is what was due less what was paid or waived
    for currency in BOOKS:
        mine = [i for i in items if i["account_id"].startswith(currency)]
        held = [a for aid, a in accounts.items() if aid.startswith(currency)]
        settled = sum(
            i["paid_principal"] + i["paid_interest"] + i["paid_fee"] + i["paid_penalty"]
            for i in mine
        )
        assert settled + sum(a["credit_balance"] for a in held) == paid[f"{currency}P1"]
        owed = sum(i["principal"] + i["interest"] + i["fee"] + i["penalty"] for i in mine)
        waived = sum(i["waived"] for i in mine)
        assert owed - settled - waived == sum(a["overdue_amount"] for a in held) > 0
        assert all(a["dpd"] > 0 for a in held)

    # written for a person in both locales: BHD with its three decimals
    assert format_minor(100_005, "BHD", "en") == "BHD100.005"
    assert format_minor(100_005, "BHD", "zh") == "BHD100.005"
    assert format_minor(1_000_050, "TWD", "en") == "NT$10,000.50"
    assert format_minor(1_000_050, "TWD", "zh") == "NT$10,000.50"


def test_an_unknown_currency_is_refused_at_import(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    folder = _write(tmp_path / "XYZ", "XYZ", **BOOKS["TWD"])
    out = _cli(db, "import", str(folder), "--by", "ops", code=1)
    assert "'XYZ' is not an ISO 4217 currency code" in out
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.accounts)).scalar_one() == 0
