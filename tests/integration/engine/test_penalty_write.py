"""The night's penalty rewrites an item without changing what its indexes hold.

`due_items.open_due_on` (the due date of an item with anything unpaid, NULL once paid) is the
indexed column the daily run finds overdue items by; an accrual changes `penalty`, which no index
reads, so on PostgreSQL every accruing item is updated heap-only (its new version on its page, no
index entry written) — the write that made a ten-million-account night's penalty step slow."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select, text, update

from arrears.engine.config import RunConfig
from arrears.engine.penalty import accrue_penalty
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

DUE = [date(2026, 1, 15), date(2026, 2, 15), date(2026, 3, 15)]
DAY_ONE = date(2026, 1, 16)


def _book(db: Engine, accounts: int) -> None:
    """One account in ten in arrears from DAY_ONE, the others' first instalment due later."""
    with db.begin() as conn:
        f.one_in_ten_behind(conn, accounts, DUE, penalty_rate_ppm=180000)


def test_open_due_on_is_the_due_date_while_anything_is_unpaid(db: Engine) -> None:
    _book(db, 1)
    i = t.due_items.c
    with db.begin() as conn:
        # item 1 fully paid, item 2 all but its penalty, item 3 untouched
        conn.execute(
            update(t.due_items)
            .where(i.seq == 1)
            .values(paid_principal=i.principal, paid_interest=i.interest)
        )
        conn.execute(
            update(t.due_items)
            .where(i.seq == 2)
            .values(penalty=7, paid_principal=i.principal, paid_interest=i.interest)
        )
    with db.connect() as conn:
        rows = dict(conn.execute(select(i.seq, i.open_due_on).order_by(i.seq)).all())
    assert rows == {1: None, 2: DUE[1], 3: DUE[2]}


def test_the_penalty_accrual_writes_no_index_entry(db: Engine) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("heap-only updates are PostgreSQL's")
    _book(db, 40)  # four in arrears: a page holds their items with room for new versions
    run_day(db, DAY_ONE)
    counts = text(
        "SELECT pg_stat_get_xact_tuples_updated(CAST('due_items' AS regclass)),"
        " pg_stat_get_xact_tuples_hot_updated(CAST('due_items' AS regclass))"
    )
    with db.begin() as conn:
        # the connection's counts not yet reported include earlier transactions': the difference
        before = conn.execute(counts).one()
        accrued = accrue_penalty(conn, date(2026, 1, 20), RunConfig())
        after = conn.execute(counts).one()
    updated, heap_only = after[0] - before[0], after[1] - before[1]
    assert accrued == 4
    assert updated == heap_only == 4
