"""The keys the night writes in bulk hold on both databases: declared keys on SQLite, checked once
per statement on PostgreSQL (`store/statement_keys.py`), with the same error either way."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from arrears.store import tables as t
from arrears.store.statement_keys import KEYS
from arrears.store.tables_compliance import gate_decisions, gate_rulings
from arrears.store.tables_strategy import strategy_assignments

DAY = date(2025, 6, 30)


def _case(borrower: str) -> dict[str, object]:
    return {
        "borrower_id": borrower,
        "opened_on": DAY,
        "currency": "CNY",
        "overdue_at_open": 100,
        "dpd": 1,
        "bucket": "M1",
        "overdue_amount": 100,
    }


def _action(case_id: int, target: str = "b1") -> dict[str, object]:
    return {
        "case_id": case_id,
        "business_date": DAY,
        "step": "reminder",
        "target_type": "borrower",
        "target_id": target,
        "channel": "sms",
        "template": "reminder",
    }


@pytest.fixture
def book(db: Engine) -> Engine:
    with db.begin() as conn:
        conn.execute(
            insert(t.borrowers),
            [{"id": b, "timezone": "Asia/Shanghai", "language": "zh-CN"} for b in ("b1", "b2")],
        )
        case = conn.execute(insert(t.cases).values(_case("b1")).returning(t.cases.c.id))
        assert case.scalar_one() == 1
        conn.execute(insert(t.actions).values(**_action(1)))
    return db


def _refused(engine: Engine, statement: object, constraint: str) -> None:
    with pytest.raises(IntegrityError) as raised, engine.begin() as conn:
        conn.execute(statement)  # type: ignore[call-overload]
    if engine.dialect.name == "postgresql":
        assert raised.value.orig.diag.constraint_name == constraint  # type: ignore[union-attr]
    else:  # SQLite names no constraint
        assert "FOREIGN KEY constraint failed" in str(raised.value)


def test_every_listed_key_is_a_key_of_the_metadata() -> None:
    from arrears.store.schema import metadata

    declared = {
        (fk.parent.table.name, fk.parent.name, fk.column.table.name, fk.column.name)
        for table in metadata.tables.values()
        for fk in table.foreign_keys
    }
    assert set(KEYS) <= declared


def test_an_insert_naming_a_missing_row_is_refused_whole(book: Engine) -> None:
    # one bad row among good ones: nothing of the statement is written
    rows = [_action(1, target=f"b{k}") for k in range(2, 50)] + [_action(999)]
    _refused(book, insert(t.actions).values(rows), "fk_actions_case_id_cases")
    with book.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(t.actions)) == 1
    with book.begin() as conn:
        conn.execute(insert(t.actions).values(rows[:-1]))  # the good ones alone go in
        assert conn.scalar(select(func.count()).select_from(t.actions)) == 49


def test_each_nightly_key_refuses_a_missing_row(book: Engine) -> None:
    _refused(
        book,
        insert(t.cases).values(_case("nobody")),
        "fk_cases_borrower_id_borrowers",
    )
    _refused(
        book,
        insert(strategy_assignments).values(
            case_id=999, strategy="seed", salt="s", bucket=1, variant="a", assigned_on=DAY
        ),
        "fk_strategy_assignments_case_id_cases",
    )
    with book.begin() as conn:
        ruling = conn.execute(
            insert(gate_rulings)
            .values(
                batch="b",
                business_date=DAY,
                stage="plan",
                pack="cn",
                decided_for=datetime(2025, 6, 30, tzinfo=UTC),
                verdict="allow",
                reason="",
                consulted="[]",
                violations="[]",
            )
            .returning(gate_rulings.c.id)
        ).scalar_one()
    _refused(
        book,
        insert(gate_decisions).values(
            action_id=999, ruling_id=ruling, business_date=DAY, stage="plan", verdict="allow"
        ),
        "fk_gate_decisions_action_id_actions",
    )
    _refused(
        book,
        insert(t.outbox).values(
            action_id=999,
            channel="sms",
            template="reminder",
            language="zh-CN",
            target_type="borrower",
            target_id="b1",
            created_at=datetime(2025, 6, 30, tzinfo=UTC),
        ),
        "fk_outbox_action_id_actions",
    )


def test_an_update_to_a_missing_row_is_refused_and_others_pass(book: Engine) -> None:
    _refused(book, update(t.actions).values(case_id=999), "fk_actions_case_id_cases")
    _refused(book, update(t.cases).values(borrower_id="nobody"), "fk_cases_borrower_id_borrowers")
    with book.begin() as conn:  # a change that keeps the key, and one to a row that exists
        conn.execute(update(t.actions).values(status="done"))
        conn.execute(update(t.cases).values(borrower_id="b2"))
        assert conn.scalar(select(t.cases.c.borrower_id)) == "b2"


def test_a_referred_row_cannot_go_or_change_its_key(book: Engine) -> None:
    _refused(book, delete(t.cases), "fk_actions_case_id_cases")
    _refused(
        book, delete(t.borrowers).where(t.borrowers.c.id == "b1"), "fk_cases_borrower_id_borrowers"
    )
    _refused(book, update(t.cases).values(id=2), "fk_actions_case_id_cases")
    with book.begin() as conn:  # a row nothing refers to goes
        conn.execute(delete(t.borrowers).where(t.borrowers.c.id == "b2"))
        assert conn.scalar(select(func.count()).select_from(t.borrowers)) == 1
