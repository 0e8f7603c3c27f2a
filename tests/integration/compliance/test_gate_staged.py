"""The daily run's plan is staged and the gate writes each action once, already decided: the
actions and decisions must be exactly those of planning into the actions and gating them
there (the varied night of `test_gate_kinds`), on SQLite and PostgreSQL; and a deferred action
carried over to the day keeps its place when the night's plan stages the same action."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from arrears.compliance.batch import gate_planned_actions
from arrears.store import migrate
from arrears.store import tables as t
from arrears.store.db import make_engine
from arrears.store.staged_actions import GATE_COLUMNS, KEY, close_staging, open_staging
from arrears.store.tables_compliance import gate_decisions, gate_rulings
from tests import factories as f
from tests.conftest import _postgres_engine
from tests.integration.compliance.test_gate_kinds import D, _night

MESSAGES = ("sms", "email", "push", "letter")
PLANNED = ("case_id", "step", "target_type", "target_id", "channel", "template", "priority")
# what the plan's facts give each staged row of its case and borrower (`GATE_COLUMNS`)
OF_CASE = {"borrower_id": "c.borrower_id", "unreachable_on": "c.unreachable_on"}
GATE = ", ".join(OF_CASE.get(name, f"b.{name}") for name in GATE_COLUMNS)
CASE_AND_BORROWER = "JOIN cases c ON c.id = a.case_id JOIN borrowers b ON b.id = c.borrower_id"


@contextmanager
def _twin(db: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A second empty database of the same kind."""
    if db.dialect.name == "sqlite":
        other = make_engine(f"sqlite:///{tmp_path / 'twin.db'}")
        migrate.upgrade(other)
        yield other
        other.dispose()
        return
    for other in _postgres_engine():
        migrate.upgrade(other)
        yield other


def _stage(conn: Connection) -> str:
    """The night's planned actions moved into the staging table, as the daily run plans."""
    staged = open_staging(conn)
    cols = ("business_date", *PLANNED)
    conn.execute(
        text(
            f"INSERT INTO {staged} ({', '.join((*cols, *GATE_COLUMNS))}) "
            f"SELECT {', '.join(f'a.{c}' for c in cols)}, {GATE} FROM actions a "
            f"{CASE_AND_BORROWER} WHERE a.status = 'planned' ORDER BY a.id"
        )
    )
    conn.execute(text("DELETE FROM actions WHERE status = 'planned'"))
    return staged


def _outcome(db: Engine) -> tuple[dict[tuple[Any, ...], tuple[Any, ...]], list[tuple[Any, ...]]]:
    a, r = t.actions, gate_rulings
    key = [a.c[c] for c in KEY]
    with db.connect() as conn:
        actions = {
            tuple(row[:6]): tuple(row[6:])
            for row in conn.execute(
                select(*key, a.c.template, a.c.status, a.c.scheduled_at, a.c.rule_id, a.c.reason)
            )
        }
        decided = sorted(
            (tuple(row[:6]), *row[6:])
            for row in conn.execute(
                select(*key, r.c.stage, r.c.verdict, r.c.rule_id, r.c.reason, r.c.consulted).join(
                    r, r.c.id == a.c.ruling_id
                )
            )
        )
    return actions, decided


def test_a_staged_night_is_decided_as_one_planned_in_the_actions(
    db: Engine, tmp_path: Path
) -> None:
    with _twin(db, tmp_path) as reference:
        with reference.begin() as conn:
            _night(conn)
            gate_planned_actions(conn, D, "cn", queue=MESSAGES)
        with db.begin() as conn:
            _night(conn)
            staged = _stage(conn)
            report = gate_planned_actions(conn, D, "cn", queue=MESSAGES, staged=staged)
            close_staging(conn)
        assert report.allowed and report.deferred and report.blocked  # a varied night
        want, got = _outcome(reference), _outcome(db)
    assert got == want
    with db.connect() as conn:  # each action written with the ruling it was decided by
        unnamed = select(t.actions.c.id).where(t.actions.c.ruling_id.is_(None))
        assert conn.execute(unnamed).all() == []
        assert conn.execute(select(func.count()).select_from(gate_decisions)).scalar() == 0


def test_a_carried_over_action_wins_over_the_same_action_staged(db: Engine) -> None:
    later = D + timedelta(days=1)
    with db.begin() as conn:
        f.borrower(conn, "B1")
        conn.execute(
            insert(t.cases).values(
                id=1, borrower_id="B1", opened_on=D, currency="CNY", status="open"
            )
        )
        conn.execute(  # deferred yesterday to this morning, Shanghai time
            insert(t.actions).values(
                case_id=1,
                business_date=D,
                step="dpd1_sms",
                target_type="borrower",
                target_id="B1",
                channel="sms",
                template="reminder_day1",
                status="deferred",
                scheduled_at=datetime(2026, 1, 17, 1, 0, tzinfo=UTC),
                rule_id="cn.time_window",
            )
        )
    with db.begin() as conn:
        staged = open_staging(conn)
        conn.execute(
            text(
                f"INSERT INTO {staged} (business_date, {', '.join((*PLANNED, *GATE_COLUMNS))}) "
                f"SELECT :d, a.*, {GATE} FROM (SELECT 1 AS case_id, 'dpd1_sms' AS step, "
                "'borrower' AS target_type, 'B1' AS target_id, 'sms' AS channel, "
                "'reminder_day1' AS template, 10 AS priority "
                "UNION ALL SELECT 1, 'dpd2_call', 'borrower', 'B1', 'call', 'call_borrower', 40"
                f") a {CASE_AND_BORROWER}"
            ),
            {"d": later},
        )
        report = gate_planned_actions(conn, later, "cn", queue=MESSAGES, staged=staged)
        close_staging(conn)
    assert report.carried_over == 1
    with db.connect() as conn:
        today = conn.execute(
            select(t.actions.c.step, t.actions.c.status).where(t.actions.c.business_date == later)
        ).all()
    assert sorted(today) == [("dpd1_sms", "queued"), ("dpd2_call", "planned")]
