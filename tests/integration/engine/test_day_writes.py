"""The day's actions are decided and queued as the gate records them: each action is written
once and has exactly one decision row of the night, an allowed message leaves the gate queued
with one outbox row, and the recorded rows agree with the actions (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, event, func, select

from arrears.compliance.batch import gate_planned_actions
from arrears.engine.enqueue import MESSAGE_CHANNELS
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from arrears.store.tables_compliance import borrower_flags, gate_decisions, gate_rulings
from tests import factories as f

D = date(2026, 1, 16)  # day one overdue
DUE = [date(2026, 1, 15), date(2026, 2, 15)]
STATUS = {"allow": {"planned", "queued"}, "defer": {"deferred"}, "block": {"blocked"}}


def _book(db: Engine, borrowers: int) -> None:
    with db.begin() as conn:
        for n in range(borrowers):
            zone = ("Asia/Shanghai", "America/New_York", "Europe/London")[n % 3]
            f.borrower(conn, f"B{n}", timezone=zone)
            f.contact(conn, f"C{n}", f"B{n}")
            f.account(conn, f"A{n}", f"B{n}", [(d, 10000, 500) for d in DUE])
        # a borrower who asked for no contact: the gate blocks, nothing is queued for them
        conn.execute(
            borrower_flags.insert().values(
                borrower_id="B0",
                flag="cease",
                since=D,
                set_by="compliance",
                set_at=datetime(2026, 1, 15, 3, tzinfo=UTC),
            )
        )


def test_each_action_one_decision_and_each_allowed_message_one_outbox_row(db: Engine) -> None:
    _book(db, 9)
    run_day(db, D, gate=gate_planned_actions, rule_pack="cn")
    with db.connect() as conn:
        acts = conn.execute(
            select(t.actions.c.id, t.actions.c.channel, t.actions.c.status, t.actions.c.case_id)
        ).all()
        recorded = conn.execute(
            select(t.actions.c.id, gate_rulings.c.verdict)
            .join(gate_rulings, gate_rulings.c.id == t.actions.c.ruling_id)
            .where(gate_rulings.c.stage == "plan")
        ).all()
        outbox = conn.execute(select(t.outbox.c.action_id)).scalars().all()
        blocked_case = conn.execute(
            select(t.cases.c.id).where(t.cases.c.borrower_id == "B0")
        ).scalar_one()
    assert len(acts) >= 18
    verdict = dict(recorded)
    assert len(verdict) == len(recorded) == len(acts)  # one decision per action, no more
    for a in acts:
        assert a.status in STATUS[verdict[a.id]], a
        queued = a.channel in MESSAGE_CHANNELS and verdict[a.id] == "allow"
        assert (a.status == "queued") == queued, a
        assert outbox.count(a.id) == (1 if queued else 0), a
        if a.case_id == blocked_case:
            assert a.status == "blocked"
    assert {v for _, v in recorded} >= {"allow", "block"}


def test_the_day_run_again_writes_nothing_new(db: Engine) -> None:
    _book(db, 4)
    run_day(db, D, gate=gate_planned_actions, rule_pack="cn")

    def counts() -> tuple[int, ...]:
        with db.connect() as conn:
            return tuple(
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (t.actions, gate_rulings, gate_decisions, t.outbox)
            )

    first = counts()
    run_day(db, D, gate=gate_planned_actions, rule_pack="cn")
    assert counts() == first


def test_the_night_writes_each_action_once(db: Engine) -> None:
    """Planned into the staging table, then decided (and a message queued) as it is written:
    no statement of the night updates an action (a row written twice in one transaction pays
    its key check twice on PostgreSQL), and no action is missing."""
    _book(db, 6)
    rewritten: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE ACTIONS"):
            rewritten.append(max(cursor.rowcount, 0))

    event.listen(db, "after_cursor_execute", count)
    try:
        report = run_day(db, D, gate=gate_planned_actions, rule_pack="cn")
    finally:
        event.remove(db, "after_cursor_execute", count)
    with db.connect() as conn:
        planned = conn.execute(select(func.count()).select_from(t.actions)).scalar_one()
        queued = conn.execute(
            select(func.count()).select_from(t.actions).where(t.actions.c.status == "queued")
        ).scalar_one()
    assert queued > 0 and planned == report.actions_planned
    assert sum(rewritten) == 0
