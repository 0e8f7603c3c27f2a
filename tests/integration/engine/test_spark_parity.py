"""The partitioned run on Apache Spark (`local[2]`) against the single-node run on PostgreSQL
and on SQLite: on the same portfolio, day by day, the three plan exactly the same actions
(case, date, step, channel, target, template, status) and leave the same account figures,
DPD history and cases. A day whose write-back fails on one shard leaves the shards before it
written; re-running the date completes it and adds nothing twice.

One Spark session for the module (its start-up is most of the time)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from arrears.engine.run_day import RunReport, run_day
from arrears.engine.spark import writeback
from arrears.engine.spark.extract import shard_of
from arrears.engine.spark.run import ShardWriteFailed, SparkOptions, run_day_spark
from arrears.privacy.keyring import KeyRing
from arrears.sim.load import load_portfolio
from arrears.sim.portfolio import generate
from arrears.store import migrate
from arrears.store.db import make_engine
from tests.conftest import _postgres_engine

pytestmark = pytest.mark.slow

START = date(2026, 3, 2)
SHARDS = 2


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        if os.environ.get("CI"):
            pytest.fail("java is missing: the Spark run needs Java 17 (.ci/run installs it)")
        pytest.skip("java is missing: the Spark run needs Java 17")
    from arrears.engine.spark import jobs

    session = jobs.session("local[2]", 1)
    # a few hundred rows: compiling each stage to Java costs more than running it
    session.conf.set("spark.sql.adaptive.enabled", "false")
    session.conf.set("spark.sql.codegen.wholeStage", "false")
    yield session
    session.stop()


@pytest.fixture
def books(tmp_path: Path) -> Iterator[dict[str, Engine]]:
    """The same portfolio in SQLite and PostgreSQL (single-node) and in the database the Spark
    run writes back to (PostgreSQL when there is one, the path production takes)."""
    portfolio = generate(11, 200, START - timedelta(days=40))
    ring = KeyRing.generate()
    pg = _postgres_engine()
    pg_spark = _postgres_engine()
    engines = {
        "sqlite": make_engine(f"sqlite:///{tmp_path / 'single.db'}"),
        "postgresql": next(pg),
        "spark": next(pg_spark),
    }
    for engine in engines.values():
        migrate.upgrade(engine)
        load_portfolio(engine, ring, portfolio)
    yield engines
    for gen in (pg, pg_spark):
        for _ in gen:
            pass


def _story(engine: Engine, day: date) -> None:
    """What agents record after the first night, the same in every book: a wrong number, a
    hardship, a promise due in two days (by borrower: case ids differ between books)."""
    with engine.begin() as conn:
        open_cases = conn.execute(
            text("SELECT borrower_id FROM cases WHERE status = 'open' ORDER BY borrower_id")
        ).scalars()
        first = list(open_cases)[:6]
        assert len(first) == 6, "the portfolio opens cases on its first night"
        conn.execute(
            text("UPDATE borrowers SET phone_status = 'wrong' WHERE id IN (:a, :b)"),
            {"a": first[0], "b": first[1]},
        )
        conn.execute(
            text("UPDATE cases SET hardship = 'job_loss' WHERE borrower_id IN (:a, :b)"),
            {"a": first[2], "b": first[3]},
        )
        conn.execute(
            text(
                """INSERT INTO promises (case_id, made_on, due_on, amount, currency, status)
                   SELECT id, :d, :due, 10000, currency, 'open' FROM cases
                   WHERE borrower_id = :b AND status = 'open'"""
            ),
            {"d": day, "due": day + timedelta(days=2), "b": first[4]},
        )


_STATE = {
    "accounts": """SELECT id, dpd, bucket, overdue_amount, outstanding, status, state_as_of
                   FROM accounts""",
    "history": "SELECT account_id, as_of, dpd, bucket, overdue_amount FROM delinquency_history",
    "cases": """SELECT borrower_id, opened_on, closed_on, status, dpd, bucket, overdue_amount,
                       overdue_at_open, hardship, unreachable_on, queue, strategy, variant
                FROM cases""",
    "actions": """SELECT c.borrower_id, a.business_date, a.step, a.target_type, a.target_id,
                         a.channel, a.template, a.status, a.priority
                  FROM actions a JOIN cases c ON c.id = a.case_id""",
    "assignments": """SELECT c.borrower_id, s.strategy, s.variant, s.assigned_on
                      FROM strategy_assignments s JOIN cases c ON c.id = s.case_id""",
}


def _state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    def norm(v: Any) -> Any:
        return v.isoformat() if isinstance(v, date) else v

    with engine.connect() as conn:
        return {
            name: sorted(tuple(norm(v) for v in row) for row in conn.execute(text(query)))
            for name, query in _STATE.items()
        }


def _counts(r: RunReport) -> tuple[int, ...]:
    return (r.accounts_changed, r.cases_opened, r.cases_closed, r.actions_planned)


def test_spark_postgresql_and_sqlite_plan_the_same_day_by_day(
    spark: Any, books: dict[str, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = SparkOptions(shards=SHARDS, workdir=tmp_path / "spark")

    def spark_day(day: date) -> RunReport:
        return run_day_spark(books["spark"], day, options=options, spark=spark)

    def single_days(day: date) -> RunReport:
        lite = run_day(books["sqlite"], day)
        pg = run_day(books["postgresql"], day)
        assert _counts(lite) == _counts(pg)
        return lite

    # day 1: every delinquent borrower's case opens, the first actions are planned
    single = single_days(START)
    on_spark = spark_day(START)
    assert "spark_strategy" in on_spark.step_seconds  # it ran on Spark
    assert _counts(on_spark) == _counts(single)
    assert single.cases_opened >= 20 and single.actions_planned >= 40
    for engine in books.values():
        _story(engine, START)

    # day 2: the strategy's write-back fails on the last shard, after the first was written
    day2 = START + timedelta(days=1)
    single = single_days(day2)
    real = writeback.write_strategy

    def failing(conn: Any, results: Path, shard: int, *args: Any) -> int:
        if shard == SHARDS - 1:
            raise RuntimeError("connection lost")
        return real(conn, results, shard, *args)

    monkeypatch.setattr(writeback, "write_strategy", failing)
    with pytest.raises(ShardWriteFailed, match=f"strategy: shard {SHARDS - 1} of {SHARDS}"):
        spark_day(day2)
    partial = _state(books["spark"])["actions"]
    borrowers = {row[0] for row in partial if row[1] == day2.isoformat()}
    assert borrowers, "the first shard's actions are written"
    assert {shard_of(b, SHARDS) for b in borrowers} == {0}, "and no other shard's"
    monkeypatch.setattr(writeback, "write_strategy", real)
    rerun = spark_day(day2)  # the whole date again: what is written stays, the rest is added
    assert rerun.actions_planned == single.actions_planned - len(
        [r for r in partial if r[1] == day2.isoformat()]
    )

    # day 3: the promise falls due, the wrong numbers are unreachable, the hardship queue
    day3 = START + timedelta(days=2)
    single = single_days(day3)
    assert _counts(spark_day(day3)) == _counts(single)

    expected = _state(books["sqlite"])
    assert _state(books["postgresql"]) == expected
    got = _state(books["spark"])
    for name in _STATE:
        assert got[name] == expected[name], name
    cases = expected["cases"]
    assert any(c[9] is not None for c in cases), "a borrower is unreachable"
    assert any(c[10] == "hardship" for c in cases), "a case is in the hardship queue"
    assert len({a[2] for a in expected["actions"]}) >= 3, "several steps of the strategy"
