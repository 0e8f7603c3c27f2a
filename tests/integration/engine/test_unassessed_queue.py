"""New items bring their account's figures; a changed account waits in a queue; a first day
reads the accounts already behind, not the whole book.

An item inserted adds what it owes to its account (triggers on `due_items`, whoever the writer),
so an account with nothing due yet needs no assessment. `unassessed_accounts` holds the accounts
whose `state_as_of` was set back to NULL (their items changed); the assessment takes out the ones
it assessed and leaves the ones it could not (quarantined, charged off). With no index reading
`state_as_of`, PostgreSQL writes an assessed current account heap-only."""

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


def _figures(conn: Connection) -> dict[str, tuple[object, ...]]:
    a = t.accounts.c
    rows = conn.execute(select(a.id, a.outstanding, a.status, a.dpd, a.state_as_of))
    return {r.id: tuple(r[1:]) for r in rows}


def _book(db: Engine, accounts: int) -> None:
    """One account in ten in arrears from DAY_ONE, the others' first instalment due in 2027."""
    later = [d.replace(year=2027) for d in DUE]
    with db.begin() as conn:
        for n in range(accounts):
            f.borrower(conn, f"B{n}", phone=f"+8613800{n:05d}")
            dues = DUE if n % 10 == 0 else later
            f.account(conn, f"A{n}", f"B{n}", [(d, 10000, 500) for d in dues])


def _item(account_id: str, seq: int, principal: int, paid: int) -> dict[str, object]:
    return {
        "account_id": account_id, "seq": seq, "due_on": DUE[1], "principal": principal,
        "interest": 0, "paid_principal": paid,
    }  # fmt: skip


def test_inserted_items_bring_their_figures_and_a_reset_account_is_queued(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(d, 10000, 500) for d in DUE])
        f.account(conn, "A2", "B1", [(date(2027, 1, 15), 10000, 500)])
        f.account(conn, "A3", "B1", [])
        f.account(conn, "A4", "B1", [], status="charged_off")
        # several items of several accounts in one statement, as a bulk load writes them
        conn.execute(
            insert(t.due_items),
            [_item("A3", 1, 7000, 7000), _item("A3", 2, 3000, 1000), _item("A4", 1, 5000, 0)],
        )
        assert _queued(conn) == []  # an insert queues nothing
        figures = _figures(conn)
        assert figures["A1"][:2] == (21000, "active")
        assert figures["A2"] == (10500, "active", 0, None)
        assert figures["A3"][:2] == (2000, "active")
        assert figures["A4"][:2] == (0, "charged_off")  # a charged-off account keeps its own
        conn.execute(insert(t.due_items).values(**_item("A3", 3, 5000, 5000)))
        f.account(conn, "A5", "B1", [])
        conn.execute(insert(t.due_items).values(**_item("A5", 1, 5000, 5000)))
        figures = _figures(conn)
        assert figures["A3"][:2] == (2000, "active")
        assert figures["A5"][:2] == (0, "paid_off")  # nothing owed: paid off, as assessed

    run_day(db, DAY_ONE)
    with db.begin() as conn:
        figures = _figures(conn)
        assert figures["A1"][2:] == (1, DAY_ONE)  # behind: assessed
        assert figures["A2"] == (10500, "active", 0, None)  # nothing due: left as it came
        # the items of A2 changed outside the run, and an officer set A1's state back by hand
        conn.execute(
            update(t.due_items).where(t.due_items.c.account_id == "A2").values(principal=20000)
        )
        reassess(conn, ["A2"])
        conn.execute(update(t.accounts).where(t.accounts.c.id == "A1").values(state_as_of=None))
        assert _queued(conn) == ["A1", "A2"]

    with db.begin() as conn:
        assessed = assess_accounts(conn, date(2026, 1, 17), RunConfig())
        assert assessed.assessed >= 2  # A1 (in arrears anyway) and A2, which nothing else picks
        assert _queued(conn) == []
        assert _figures(conn)["A2"] == (20500, "active", 0, date(2026, 1, 17))


def test_an_account_the_run_cannot_assess_stays_queued(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(d, 10000, 500) for d in DUE])
        # 1,000,000,000,000.00 overdue at a penalty rate: its penalty product passes 64 bits
        f.account(conn, "A2", "B1", [(DUE[0], 10**14, 0)], penalty_rate_ppm=50000)
        f.account(conn, "A3", "B1", [(DUE[0], 10000, 0)], status="charged_off")
        reassess(conn, ["A1", "A2", "A3"])
    report = run_day(db, date(2026, 2, 1))
    assert sorted(report.quarantined) == ["A2"]
    with db.connect() as conn:
        assert _queued(conn) == ["A2", "A3"]


def _counts(conn: Connection) -> tuple[int, int]:
    """Rows of `accounts` this transaction updated, and of them heap-only."""
    counts = text(
        "SELECT pg_stat_get_xact_tuples_updated(CAST('accounts' AS regclass)),"
        " pg_stat_get_xact_tuples_hot_updated(CAST('accounts' AS regclass))"
    )
    updated, heap_only = conn.execute(counts).one()
    return int(updated), int(heap_only)


def test_a_first_day_assesses_only_the_accounts_behind(db: Engine) -> None:
    _book(db, 20)  # 2 accounts in arrears, 18 current
    with db.begin() as conn:
        assessed = assess_accounts(conn, DAY_ONE, RunConfig())
        assert (assessed.assessed, assessed.changed) == (2, 2)
        figures = _figures(conn)
    assert {k for k, v in figures.items() if v[3] == DAY_ONE} == {"A0", "A10"}
    assert all(v == (21000, "active", 0, None) for k, v in figures.items() if v[3] is None)


def test_a_book_assessed_again_writes_its_current_accounts_in_place(db: Engine) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("heap-only updates are PostgreSQL's")
    _book(db, 20)  # 2 accounts in arrears, 18 current: one page, half of it free
    with db.begin() as conn:
        reassess(conn, [f"A{n}" for n in range(20)])
    with db.begin() as conn:
        # the connection's counts not yet reported include earlier transactions': the difference
        before = _counts(conn)
        assessed = assess_accounts(conn, DAY_ONE, RunConfig())
        after = _counts(conn)
    updated, heap_only = after[0] - before[0], after[1] - before[1]
    assert (assessed.assessed, assessed.changed) == (20, 20)
    # every account written once; the 18 whose DPD and overdue stay 0 on their own page
    assert updated == 20
    assert heap_only == 18
