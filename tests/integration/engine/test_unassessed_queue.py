"""The accounts to assess wait in a queue the writers fill, and a first day writes in place.

`unassessed_accounts` holds the accounts whose `state_as_of` is NULL, whoever wrote them: triggers
on `accounts` queue an account inserted without a state or set back to NULL; the assessment takes
out the ones it assessed and leaves the ones it could not (quarantined, charged off). With no
index reading `state_as_of`, PostgreSQL writes a first day's current accounts heap-only."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Connection, Engine, insert, select, text, update

from arrears.engine.config import RunConfig
from arrears.engine.delinquency import assess_accounts, reassess
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

DUE = [date(2026, 1, 15), date(2026, 2, 15)]
DAY_ONE = date(2026, 1, 16)


def _queued(conn: Connection) -> list[str]:
    q = t.unassessed_accounts.c.account_id
    return sorted(conn.execute(select(q)).scalars())


def _book(db: Engine, accounts: int) -> None:
    """One account in ten in arrears from DAY_ONE, the others' first instalment due in 2027."""
    later = [d.replace(year=2027) for d in DUE]
    with db.begin() as conn:
        for n in range(accounts):
            f.borrower(conn, f"B{n}", phone=f"+8613800{n:05d}")
            dues = DUE if n % 10 == 0 else later
            f.account(conn, f"A{n}", f"B{n}", [(d, 10000, 500) for d in dues])


def test_every_writer_queues_and_the_assessment_empties_the_queue(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(d, 10000, 500) for d in DUE])
        f.account(conn, "A2", "B1", [(date(2027, 1, 15), 10000, 500)])
        # a bulk insert of several rows in one statement, one of them already assessed
        conn.execute(
            insert(t.accounts),
            [
                {"id": aid, "borrower_id": "B1", "product": "loan", "currency": "CNY",
                 "principal": 0, "opened_on": date(2025, 12, 1), "state_as_of": state}
                for aid, state in (("A3", None), ("A4", date(2026, 1, 1)))
            ],
        )  # fmt: skip
        conn.execute(
            insert(t.due_items).values(
                account_id="A3", seq=1, due_on=DUE[1], principal=10000, interest=0
            )
        )
        assert _queued(conn) == ["A1", "A2", "A3"]

    run_day(db, DAY_ONE)
    with db.begin() as conn:
        assert _queued(conn) == []
        states = dict(conn.execute(select(t.accounts.c.id, t.accounts.c.state_as_of)).all())
        assert states["A1"] == states["A2"] == DAY_ONE
        # the items of A2 changed outside the run, and an officer set A1's state back by hand
        reassess(conn, ["A2"])
        conn.execute(update(t.accounts).where(t.accounts.c.id == "A1").values(state_as_of=None))
        assert _queued(conn) == ["A1", "A2"]

    with db.begin() as conn:
        assessed = assess_accounts(conn, date(2026, 1, 17), RunConfig())
        assert assessed.assessed >= 2  # A1 (in arrears anyway) and A2, which nothing else picks
        assert _queued(conn) == []
        a2 = conn.execute(select(t.accounts.c.state_as_of).where(t.accounts.c.id == "A2"))
        assert a2.scalar_one() == date(2026, 1, 17)


def test_an_account_the_run_cannot_assess_stays_queued(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(d, 10000, 500) for d in DUE])
        # 1,000,000,000,000.00 overdue at a penalty rate: its penalty product passes 64 bits
        f.account(conn, "A2", "B1", [(DUE[0], 10**14, 0)], penalty_rate_ppm=50000)
        f.account(conn, "A3", "B1", [(DUE[0], 10000, 0)], status="charged_off")
    report = run_day(db, date(2026, 2, 1))
    assert sorted(report.quarantined) == ["A2"]
    with db.connect() as conn:
        assert _queued(conn) == ["A2", "A3"]


def test_a_first_day_writes_the_current_accounts_in_place(db: Engine) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("heap-only updates are PostgreSQL's")
    _book(db, 20)  # 2 accounts in arrears, 18 current: one page, half of it free
    counts = text(
        "SELECT pg_stat_get_xact_tuples_updated(CAST('accounts' AS regclass)),"
        " pg_stat_get_xact_tuples_hot_updated(CAST('accounts' AS regclass))"
    )
    with db.begin() as conn:
        # the connection's counts not yet reported include earlier transactions': the difference
        before = conn.execute(counts).one()
        assessed = assess_accounts(conn, DAY_ONE, RunConfig())
        after = conn.execute(counts).one()
    updated, heap_only = after[0] - before[0], after[1] - before[1]
    assert (assessed.assessed, assessed.changed) == (20, 20)
    # every account written once; the 18 whose DPD and overdue stay 0 on their own page
    assert updated == 20
    assert heap_only == 18
