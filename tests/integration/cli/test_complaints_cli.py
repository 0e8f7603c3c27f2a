"""`arrears complaint receive|assign|answer|close|list|report` and `arrears outreach request`
end to end (SQLite and PostgreSQL): what each prints, what it refuses, what the next run does."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from arrears.cli import build
from arrears.compliance.officer import set_flag
from arrears.services.users import add_team, add_user
from arrears.store import tables as t
from tests import factories as f
from tests.integration.privacy.conftest import cli_url

DUE = date(2026, 3, 15)
D1, D3 = DUE + timedelta(days=1), DUE + timedelta(days=3)


def _cli(db: Engine, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(build(), ["--database", cli_url(db), *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def book(db: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("ARREARS_KEYS", f.RING.to_json())  # the factories' ring
    monkeypatch.setenv("ARREARS_RULE_PACK", "cn")
    with db.begin() as conn:
        add_team(conn, "care", "Specialist care", ["specialist"])
        add_team(conn, "floor", "Early", ["early"])
        for name, role, team in (
            ("lead1", "team_lead", "floor"),
            ("officer1", "compliance", None),
            ("spec1", "agent", "care"),
            ("agent1", "agent", "floor"),
        ):
            add_user(conn, name, "x" * 12, role, team_id=team, password_hash="unused")
        f.borrower(conn, "B1", phone="+8613800000001")
        f.contact(conn, "C1", "B1", phone="+8613900000001")
        f.account(conn, "A1", "B1", [(DUE, 100000, 3000)])
    _cli(db, "run-day", "--as-of", D1.isoformat(), "--by", "night")
    return db


def test_the_complaint_commands(book: Engine) -> None:
    db = book
    out = _cli(
        db,
        "complaint",
        "receive",
        "--borrower",
        "B1",
        "--channel",
        "phone",
        "--category",
        "contact_frequency",
        "--summary",
        "too many calls",
        "--on",
        D1.isoformat(),
        "--by",
        "lead1",
        "--pause-outreach",
    )
    assert out.strip() == (
        "complaint 1 received; answer due by 2026-03-31; outreach paused until it is closed"
    )
    err = _cli(
        db,
        "complaint",
        "receive",
        "--borrower",
        "B1",
        "--channel",
        "fax",
        "--category",
        "other",
        "--summary",
        "x",
        "--on",
        D1.isoformat(),
        "--by",
        "lead1",
        code=2,
    )
    assert "unknown complaint channel 'fax'; use one of phone, email" in err
    _cli(db, "run-day", "--as-of", D3.isoformat(), "--by", "night")
    with db.connect() as conn:
        rules = set(
            conn.scalars(select(t.actions.c.rule_id).where(t.actions.c.business_date == D3))
        )
    assert rules == {"cn.flag_complaint"}
    err = _cli(db, "complaint", "assign", "1", "--owner", "ghost", "--by", "lead1", code=2)
    assert "no active user 'ghost'" in err
    assert "assigned to officer1" in _cli(
        db, "complaint", "assign", "1", "--owner", "officer1", "--by", "lead1"
    )
    listed = _cli(db, "complaint", "list", "--on", "2026-04-02")
    assert "1  borrower B1" in listed and "owner officer1" in listed and "OVERDUE" in listed
    assert "close" in _cli(db, "complaint", "close", "1", "--on", "2026-03-20", "--by", "o", code=2)
    out = _cli(
        db,
        "complaint",
        "answer",
        "1",
        "--response",
        "one call a day from now on",
        "--outcome",
        "upheld",
        "--on",
        "2026-03-20",
        "--by",
        "officer1",
    )
    assert out.strip() == "complaint 1 answered (upheld) in 4 days"
    out = _cli(db, "complaint", "close", "1", "--on", "2026-03-20", "--by", "officer1")
    assert out.strip() == "complaint 1 closed; outreach resumes at the next run"
    report = json.loads(_cli(db, "complaint", "report", "--on", "2026-04-02", "--json"))
    assert (report["total"], report["closed"], report["median_days_to_answer"]) == (1, 1, 4.0)
    assert report["by_category"] == {"contact_frequency": 1}
    text = _cli(db, "complaint", "report", "--on", "2026-04-02")
    assert "2026-03  received 1  answered 1  late 0  median days 4" in text


def test_outreach_request_for_a_vulnerable_borrower(book: Engine) -> None:
    db = book
    with db.begin() as conn:
        set_flag(
            conn, f.RING, borrower_id="B1", flag="vulnerability", since=D1, by="o", at=_utc(D1)
        )
    _cli(db, "run-day", "--as-of", D3.isoformat(), "--by", "night")
    with db.connect() as conn:
        case_id, queue = conn.execute(select(t.cases.c.id, t.cases.c.queue)).one()
    assert queue == "specialist"
    morning = f"{D3.isoformat()}T10:00+08:00"
    err = _cli(
        db,
        "outreach",
        "request",
        str(case_id),
        "--channel",
        "call",
        "--by",
        "agent1",
        "--at",
        morning,
        code=2,
    )
    assert "specialist queue; a specialist agent asks" in err
    out = _cli(
        db,
        "outreach",
        "request",
        str(case_id),
        "--channel",
        "call",
        "--by",
        "spec1",
        "--at",
        morning,
    )
    assert out.strip().endswith("call to the borrower allowed now")
    out = _cli(
        db,
        "outreach",
        "request",
        str(case_id),
        "--channel",
        "call",
        "--by",
        "spec1",
        "--target",
        "contact",
        "--contact",
        "C1",
        "--at",
        morning,
        code=1,
    )
    assert "blocked by cn.contact_only_when_unreachable" in out
    out = _cli(
        db,
        "outreach",
        "request",
        str(case_id),
        "--channel",
        "sms",
        "--by",
        "spec1",
        "--at",
        f"{D3.isoformat()}T23:30+08:00",
    )
    assert "deferred by cn.time_window" in out and "next allowed 2026-03-19 00:00 UTC" in out


def _utc(d: date):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, time

    return datetime.combine(d, time(1), tzinfo=UTC)
