"""The cases step: a case carries the figures of its borrower's accounts behind, and closes once
none is behind — cured while something is still owed, paid off when nothing is."""

from datetime import date

import pytest
from sqlalchemy import Engine, select, text, update

from arrears.engine.cases import update_cases
from arrears.engine.config import RunConfig
from arrears.engine.delinquency import assess_accounts
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

DUE = [date(2026, 1, 15), date(2026, 2, 15)]
LATER = [date(2026, 6, 15), date(2026, 7, 15)]


def _case(db: Engine, borrower_id: str) -> tuple[str, int, str, int]:
    with db.connect() as conn:
        c = t.cases.c
        row = conn.execute(
            select(c.status, c.dpd, c.bucket, c.overdue_amount)
            .where(c.borrower_id == borrower_id)
            .order_by(c.id.desc())
        ).first()
    assert row is not None
    return (row.status, row.dpd, row.bucket, row.overdue_amount)


def test_a_case_follows_the_accounts_behind_and_closes_when_none_is(db: Engine) -> None:
    with db.begin() as conn:
        # B1: one loan behind, one not yet due; B2: one loan behind; B3: its number is wrong
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(d, 10000, 500) for d in DUE])
        f.account(conn, "A1b", "B1", [(d, 20000, 0) for d in LATER])
        f.borrower(conn, "B2", phone="+8613800000002")
        f.account(conn, "A2", "B2", [(DUE[0], 10000, 500)])
        f.borrower(conn, "B3", phone="+8613800000003", phone_status="wrong")
        f.account(conn, "A3", "B3", [(DUE[0], 10000, 500)])

    # day 1: three cases open, each with the figures of its account behind only
    assert run_day(db, date(2026, 1, 20)).cases_opened == 3
    assert _case(db, "B1") == ("open", 5, "M1", 10500)
    assert _case(db, "B2") == ("open", 5, "M1", 10500)
    with db.connect() as conn:
        rows = conn.execute(select(t.cases.c.borrower_id, t.cases.c.unreachable_on)).all()
    assert {b: (str(on) if on else None) for b, on in rows} == {
        "B1": None,
        "B2": None,
        "B3": "2026-01-20",
    }

    # day 2: the case's DPD grows with its account's
    run_day(db, date(2026, 1, 21))
    assert _case(db, "B1") == ("open", 6, "M1", 10500)

    # day 3: both pay what is due; B1 still owes the loan not yet due, B2 owes nothing
    with db.begin() as conn:
        f.payment(conn, "P1", "A1", 10500, date(2026, 1, 22))
        f.payment(conn, "P2", "A2", 10500, date(2026, 1, 22))
    report = run_day(db, date(2026, 1, 22))
    assert report.cases_closed == 2
    assert _case(db, "B1") == ("cured", 0, "M0", 0)
    assert _case(db, "B2") == ("paid_off", 0, "M0", 0)
    assert _case(db, "B3")[0] == "open"


def test_a_case_without_accounts_is_left_as_it_is(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B9")
        conn.execute(
            t.cases.insert().values(
                borrower_id="B9", opened_on=date(2026, 1, 2), status="open", currency="CNY"
            )
        )
        conn.execute(update(t.cases).values(dpd=7, bucket="M1", overdue_amount=300))
    run_day(db, date(2026, 1, 20))
    assert _case(db, "B9") == ("open", 7, "M1", 300)


def test_a_steady_night_writes_the_open_cases_in_place(db: Engine) -> None:
    """The cases' pages keep room (fill factor 50, migration 0031): each open case's DPD of
    the night is written heap-only, no index touched — on full pages none was."""
    if db.dialect.name != "postgresql":
        pytest.skip("heap-only updates are PostgreSQL's")
    with db.begin() as conn:
        f.one_in_ten_behind(conn, 3000, DUE)  # 300 cases, pages of them
    run_day(db, date(2026, 1, 20))
    counts = text(
        "SELECT pg_stat_get_xact_tuples_updated(CAST('cases' AS regclass)),"
        " pg_stat_get_xact_tuples_hot_updated(CAST('cases' AS regclass))"
    )
    with db.begin() as conn:
        # the connection's counts not yet reported include earlier transactions': the difference
        assess_accounts(conn, date(2026, 1, 21), RunConfig())  # DPD 5 -> 6
        before = conn.execute(counts).one()
        update_cases(conn, date(2026, 1, 21))
        after = conn.execute(counts).one()
    updated, heap_only = after[0] - before[0], after[1] - before[1]
    assert updated == 300  # each case's DPD 5 -> 6
    assert heap_only == updated
