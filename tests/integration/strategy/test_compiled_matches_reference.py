"""The compiled set-based engine and the scalar reference evaluator agree on every case of
random portfolios — several accounts per borrower, plans, promises, contacts, nulls, stored and
fresh variants — on SQLite, DuckDB and PostgreSQL, for random strategies and the shipped ones."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from arrears.domain.money import Money
from arrears.domain.strategy.evaluate import PlannedAction, evaluate, facts_of
from arrears.domain.strategy.fields import FIELDS
from arrears.domain.strategy.model import Strategy
from arrears.store import migrate
from arrears.store.db import make_engine
from arrears.store.staged_actions import open_staging
from arrears.strategy import duck, loader
from arrears.strategy.compile import fields_read, segments_query
from arrears.strategy.plan import COLUMNS, plan_with, preview, segments
from arrears.strategy.snapshot import load_snapshots
from tests.integration.strategy.portfolios import (
    AS_OF,
    load_duck,
    load_sql,
    portfolios,
    random_strategies,
)

SHIPPED = [loader.load("seed"), loader.load("seed_challenger_day3")]


@pytest.fixture(scope="module")
def sqlite() -> Iterator[Engine]:
    engine = make_engine("sqlite://")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def reference(
    engine: Engine, strategy: Strategy
) -> tuple[list[PlannedAction], dict[int, tuple[str | None, str]]]:
    with engine.connect() as conn:
        snaps = load_snapshots(conn, strategy.name)
    decisions = [evaluate(strategy, s, AS_OF) for s in snaps]
    actions = sorted((a for d in decisions for a in d.actions), key=PlannedAction.key)
    segs = {d.case_id: (d.segment, d.variant) for d in decisions}
    return actions, segs


def _plain(value: object) -> object:
    if isinstance(value, Money):
        return value.to_minor()
    if isinstance(value, bool):
        return int(value)
    return value


def compiled_facts(conn, strategy: Strategy) -> dict[int, dict[str, object]]:
    query = segments_query(strategy, conn.dialect.name, AS_OF)
    out = {}
    for row in conn.execute(text(f"SELECT * FROM ({query}) q")).mappings():
        out[int(row["case_id"])] = {name: _plain(row[name]) for name in FIELDS}
    return out


def read_facts(conn, strategy: Strategy) -> dict[int, dict[str, object]]:
    """The facts the nightly plan gathers: only the fields the strategy reads, and the segment."""
    read = fields_read(strategy) | {"segment"}
    query = segments_query(strategy, conn.dialect.name, AS_OF, "", fields_read(strategy))
    out = {}
    for row in conn.execute(text(f"SELECT * FROM ({query}) q")).mappings():
        out[int(row["case_id"])] = {name: _plain(row[name]) for name in read}
    return out


def planned(engine: Engine, strategy: Strategy) -> list[PlannedAction]:
    """What the nightly plan writes (into its staging table), rolled back after."""
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            staged = open_staging(conn)
            plan_with(conn, strategy, AS_OF, into=staged)
            rows = conn.execute(text(f"SELECT {', '.join(COLUMNS)} FROM {staged}")).all()
        finally:
            tx.rollback()
    actions = [PlannedAction(int(r[0]), r[1], r[2], str(r[3]), r[4], r[5], int(r[6])) for r in rows]
    return sorted(actions, key=PlannedAction.key)


def reference_facts(engine: Engine, strategy: Strategy) -> dict[int, dict[str, object]]:
    with engine.connect() as conn:
        snaps = load_snapshots(conn, strategy.name)
    return {
        s.case_id: {k: _plain(v) for k, v in facts_of(s, AS_OF, strategy).items()} for s in snaps
    }


def agree(engine: Engine, rows: dict, strategy: Strategy) -> None:
    with engine.begin() as conn:
        load_sql(conn, rows)
    expected, expected_segments = reference(engine, strategy)
    with engine.connect() as conn:
        compiled = preview(conn, strategy, AS_OF)
        compiled_segments = segments(conn, strategy, AS_OF)
    assert compiled == expected
    assert compiled_segments == expected_segments
    with engine.connect() as conn:
        full = compiled_facts(conn, strategy)
        assert full == reference_facts(engine, strategy)
        read = read_facts(conn, strategy)
    fields = set(FIELDS) & fields_read(strategy)
    assert {c: {f: v for f, v in r.items() if f in fields} for c, r in read.items()} == {
        c: {f: v for f, v in r.items() if f in fields} for c, r in full.items()
    }
    assert {c: r["segment"] for c, r in read.items()} == {
        c: s for c, (s, _) in compiled_segments.items()
    }
    assert planned(engine, strategy) == expected
    con = load_duck(rows)
    assert duck.preview(con, strategy, AS_OF) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=portfolios(), text=random_strategies())
def test_random_strategies_agree_on_sqlite_and_duckdb(
    sqlite: Engine, rows: dict, text: str
) -> None:
    agree(sqlite, rows, loader.loads(text))


@settings(max_examples=60, deadline=None)
@given(rows=portfolios(), which=st.sampled_from([0, 1]))
def test_shipped_strategies_agree(sqlite: Engine, rows: dict, which: int) -> None:
    agree(sqlite, rows, SHIPPED[which])


@pytest.mark.postgres
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=portfolios(), text=random_strategies())
def test_random_strategies_agree_on_both_databases(db: Engine, rows: dict, text: str) -> None:
    agree(db, rows, loader.loads(text))


@settings(max_examples=20, deadline=None)
@given(rows=portfolios(), which=st.sampled_from([0, 1]))
def test_a_strategy_planning_an_action_twice_stages_it_once(
    sqlite: Engine, rows: dict, which: int
) -> None:
    """A strategy built in code may repeat an action in a step (the loader refuses it): the
    night's staging then skips the second by the rows' key, and plans what the shipped one
    plans."""
    shipped = SHIPPED[which]
    first = shipped.steps[0]
    twice = replace(shipped, steps=(replace(first, actions=first.actions * 2), *shipped.steps[1:]))
    with sqlite.begin() as conn:
        load_sql(conn, rows)
    assert planned(sqlite, twice) == planned(sqlite, shipped)
