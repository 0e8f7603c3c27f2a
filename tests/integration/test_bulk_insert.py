"""Bulk inserts (COPY on PostgreSQL, executemany on SQLite) behave as plain inserts: every row,
its values as bound parameters would write them, and nothing when the transaction rolls back."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

import pytest
from sqlalchemy import Connection, Engine, select

from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from arrears.store.bulk import COPY_FROM, among, insert_rows
from tests.integration.channels.outbox import queue_messages


def a_case(conn: Connection, keyring: KeyRing) -> int:
    queue_messages(conn, keyring, 1)
    return int(conn.execute(select(t.cases.c.id)).scalar_one())


class Outcome(StrEnum):
    SENT = "sent"


def rows(case_id: int, n: int) -> list[dict[str, object]]:
    return [
        {
            "case_id": case_id,
            "action_id": None,
            "occurred_at": datetime(2026, 3, 2, 9, 0, i % 60, tzinfo=UTC),
            "business_date": date(2026, 3, 2),
            "channel": "sms",
            "target_type": "borrower",
            "target_id": f"B{i}",
            "outcome": Outcome.SENT,
            "note": None if i % 2 else "含中文, tabs\tand\nnew lines \\ too",
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [3, COPY_FROM + 5])
def test_every_row_lands_as_written(db: Engine, keyring: KeyRing, n: int):
    with db.begin() as conn:
        case_id = a_case(conn, keyring)
        insert_rows(conn, t.interactions, rows(case_id, n))
    with db.connect() as conn:
        got = conn.execute(
            select(t.interactions.c.target_id, t.interactions.c.outcome, t.interactions.c.note,
                   t.interactions.c.occurred_at).order_by(t.interactions.c.id)
        ).all()  # fmt: skip
    assert [g.target_id for g in got] == [f"B{i}" for i in range(n)]
    assert {g.outcome for g in got} == {"sent"}
    assert got[0].note == "含中文, tabs\tand\nnew lines \\ too" and got[1].note is None
    assert got[1].occurred_at.replace(tzinfo=UTC) == datetime(2026, 3, 2, 9, 0, 1, tzinfo=UTC)


def test_rolled_back_with_the_callers_transaction(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        case_id = a_case(conn, keyring)
    with pytest.raises(RuntimeError), db.begin() as conn:
        insert_rows(conn, t.interactions, rows(case_id, COPY_FROM + 1))
        raise RuntimeError("crash half-way")
    with db.connect() as conn:
        assert conn.execute(select(t.interactions.c.id)).first() is None
        assert conn.execute(select(t.cases.c.id)).scalar_one() == case_id


def test_rows_naming_different_columns_are_refused(db: Engine):
    mixed = rows(1, COPY_FROM + 1)
    del mixed[-1]["note"]
    with pytest.raises(ValueError, match="different columns"), db.begin() as conn:
        insert_rows(conn, t.interactions, mixed)


def test_among_picks_exactly_the_listed_rows(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        case_id = a_case(conn, keyring)
        insert_rows(conn, t.interactions, rows(case_id, 10))
        picked = conn.execute(
            select(t.interactions.c.target_id).where(
                among(conn, t.interactions.c.target_id, ["B2", "B7", "nobody"])
            )
        ).scalars()
        assert sorted(picked) == ["B2", "B7"]
        if db.dialect.name == "postgresql":
            # such lists are planned with their values (a generic plan scans young tables)
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
