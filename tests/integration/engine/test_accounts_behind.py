"""An account's DPD grows every night it stays behind without an index entry written.

The run finds the accounts behind through two partial indexes on the stored `behind`
(`dpd > 0 OR overdue_amount > 0`), not on `dpd` itself: DPD changes every night, `behind` only
when the account falls behind or catches up, so on PostgreSQL a steady night's assessment writes
each account that stays behind heap-only (its new version on its page, no index touched)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select, text, update

from arrears.engine.config import RunConfig
from arrears.engine.delinquency import assess_accounts
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

DUE = [date(2026, 1, 15), date(2026, 2, 15), date(2026, 3, 15)]
DAY_ONE = date(2026, 1, 16)


def _book(db: Engine, accounts: int) -> None:
    """One account in ten in arrears from DAY_ONE, the others' first instalment due later."""
    with db.begin() as conn:
        f.one_in_ten_behind(conn, accounts, DUE)


def _behind(db: Engine) -> dict[str, bool]:
    a = t.accounts.c
    with db.connect() as conn:
        return {row.id: bool(row.behind) for row in conn.execute(select(a.id, a.behind))}


def test_an_account_is_behind_while_past_due_or_owing_overdue_and_not_once_paid_up(
    db: Engine,
) -> None:
    _book(db, 20)
    assert not any(_behind(db).values()), "nothing is due yet on the first instalment's day"
    run_day(db, DAY_ONE)
    assert _behind(db) == {f"A{n}": n % 10 == 0 for n in range(20)}
    i = t.due_items.c
    with db.begin() as conn:  # A0 pays its first instalment, A10 is only under way
        conn.execute(
            update(t.due_items)
            .where(i.account_id == "A0", i.seq == 1)
            .values(paid_principal=i.principal, paid_interest=i.interest)
        )
        conn.execute(update(t.accounts).where(t.accounts.c.id == "A0").values(state_as_of=None))
    run_day(db, DAY_ONE + timedelta(days=1))
    behind = _behind(db)
    assert behind["A10"] and not behind["A0"]
    assert sum(behind.values()) == 1


def test_a_steady_night_writes_the_accounts_behind_in_place(db: Engine) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("heap-only updates are PostgreSQL's")
    _book(db, 40)  # four in arrears
    run_day(db, DAY_ONE)
    counts = text(
        "SELECT pg_stat_get_xact_tuples_updated(CAST('accounts' AS regclass)),"
        " pg_stat_get_xact_tuples_hot_updated(CAST('accounts' AS regclass))"
    )
    with db.begin() as conn:
        # the connection's counts not yet reported include earlier transactions': the difference
        before = conn.execute(counts).one()
        assessed = assess_accounts(conn, DAY_ONE + timedelta(days=3), RunConfig())
        after = conn.execute(counts).one()
        dpd = conn.execute(select(t.accounts.c.dpd).where(t.accounts.c.id == "A0")).scalar_one()
    updated, heap_only = after[0] - before[0], after[1] - before[1]
    assert (assessed.changed, dpd) == (4, 4)  # DPD 1 -> 4, nothing new due
    assert updated == heap_only == 4
