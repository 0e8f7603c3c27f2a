"""The migrations build exactly the schema the tables declare, on SQLite and on PostgreSQL.

`arrears db upgrade` (and `arrears demo`, `arrears serve`, the test fixtures) build the schema only
through the Alembic revisions in `store/migrations/versions`. These tests are the guard against
drift: a change to `store/tables*.py` without a revision fails here.

Two independent comparisons, because Alembic's `compare_metadata` does not look at everything:
- `compare_metadata` (`migrate.pending_changes`): tables, columns, types, nullability, server
  defaults, indexes, unique constraints and foreign keys. It ignores two artefacts of Alembic's
  comparison, each explained where it is dropped: SQLite's `DEFAULT ''`
  (`migrate.compare_server_default`) and PostgreSQL's rewriting of index expressions
  (`migrate._rewritten_expression_indexes`); the second comparison covers both;
- the upgraded database against one built by `metadata.create_all`, both reflected by the same
  dialect: this also covers what `compare_metadata` skips or cannot see (partial-index
  predicates, index expressions as the database rewrote them, index sort order, check
  constraints, the exact server-default text; on SQLite each index's DDL as stored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from arrears.store import migrate
from arrears.store.db import make_engine
from arrears.store.schema import metadata
from tests.conftest import _postgres_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _empty(dialect: str, path: Path) -> Iterator[Engine]:
    """An empty database: a fresh SQLite file or a fresh PostgreSQL schema."""
    if dialect == "sqlite":
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
    else:
        yield from _postgres_engine()


@pytest.fixture
def empty(dialect: str, tmp_path: Path) -> Iterator[Engine]:
    yield from _empty(dialect, tmp_path / "migrated.db")


@pytest.fixture
def reference(dialect: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the same dialect, built straight from the metadata."""
    for engine in _empty(dialect, tmp_path / "reference.db"):
        metadata.create_all(engine)
        yield engine


def _where(index: Any) -> str:
    """A partial index's predicate as the dialect reflects it ('' for a full index)."""
    options = index.get("dialect_options", {})
    where = options.get("postgresql_where", options.get("sqlite_where"))
    return "" if where is None else str(getattr(where, "text", where))


def _reflect(engine: Engine) -> dict[str, Any]:
    """Everything the dialect reflects about every table, in a comparable form."""
    insp = inspect(engine)
    schema: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        if table == "alembic_version":
            continue
        columns = [
            (c["name"], str(c["type"]), c["nullable"], c.get("default"))
            for c in insp.get_columns(table)
        ]
        indexes = sorted(
            (
                ix["name"],
                tuple(ix["column_names"]),
                tuple(ix.get("expressions") or ()),
                bool(ix["unique"]),
                repr(sorted(ix.get("column_sorting", {}).items())),
                _where(ix),
            )
            for ix in insp.get_indexes(table)
        )
        uniques = sorted(
            (u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)
        )
        checks = sorted((c["name"], c["sqltext"]) for c in insp.get_check_constraints(table))
        fks = sorted(
            (
                fk["name"],
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                tuple(fk["referred_columns"]),
            )
            for fk in insp.get_foreign_keys(table)
        )
        pk = insp.get_pk_constraint(table)
        if engine.dialect.name == "sqlite":  # SQLite does not reflect expression indexes: the DDL
            with engine.connect() as conn:
                indexes += [
                    (name, " ".join(str(sql).split()))
                    for name, sql in conn.execute(
                        text(
                            "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                            " AND tbl_name = :t AND sql IS NOT NULL ORDER BY name"
                        ),
                        {"t": table},
                    )
                ]
        schema[table] = {
            "columns": columns,
            "primary key": (pk.get("name"), tuple(pk["constrained_columns"])),
            "indexes": indexes,
            "unique": uniques,
            "checks": checks,
            "foreign keys": fks,
        }
    return schema


def test_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(make_engine("sqlite://")))
    assert len(script.get_heads()) == 1, "two revisions claim the same parent: merge them"


def test_upgrade_matches_metadata(empty: Engine) -> None:
    migrate.upgrade(empty)
    assert migrate.pending_changes(empty) == [], (
        "the tables changed without a migration: autogenerate a revision (docs/operations.md)"
    )


def test_upgrade_matches_create_all(empty: Engine, reference: Engine) -> None:
    migrate.upgrade(empty)
    migrated, declared = _reflect(empty), _reflect(reference)
    assert sorted(migrated) == sorted(declared)
    for table in declared:
        assert migrated[table] == declared[table], table


def test_upgrade_creates_every_table(db: Engine) -> None:
    present = set(inspect(db).get_table_names())
    assert set(metadata.tables) <= present


def test_every_revision_downgrades_and_upgrades_again(empty: Engine) -> None:
    """Down to base and up again, one revision at a time, ends with the same schema."""
    cfg = migrate.alembic_config(empty)
    revisions = list(reversed(list(ScriptDirectory.from_config(cfg).walk_revisions())))
    for rev in revisions:
        migrate.upgrade(empty, rev.revision)
    for rev in reversed(revisions):
        migrate.downgrade(empty, rev.down_revision or "base")
    assert set(inspect(empty).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(empty)
    assert migrate.pending_changes(empty) == []
    with empty.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == revisions[-1].revision


def test_partial_unique_index_holds_after_upgrade(empty: Engine) -> None:
    """The one-open-case-per-borrower rule is the migration's index, not only the metadata's."""
    from datetime import date

    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from arrears.store.tables import borrowers, cases

    migrate.upgrade(empty)
    row = {"borrower_id": "b1", "opened_on": date(2026, 3, 2), "currency": "CNY"}
    with empty.begin() as conn:
        conn.execute(insert(borrowers).values(id="b1"))
        conn.execute(insert(cases).values(**row, status="cured"))
        conn.execute(insert(cases).values(**row, status="cured"))  # closed cases may repeat
        conn.execute(insert(cases).values(**row))  # server default: open
    with pytest.raises(IntegrityError), empty.begin() as conn:
        conn.execute(insert(cases).values(**row))


def test_gate_rulings_keep_every_recorded_decision(empty: Engine) -> None:
    """0022 moves the wide decision rows into rulings, alike ones sharing one, and back."""
    from datetime import UTC, date, datetime

    from sqlalchemy import insert

    from arrears.store.tables import actions, borrowers, cases
    from arrears.store.tables_compliance import gate_rulings

    migrate.upgrade(empty, "0021")
    at = datetime(2026, 1, 16, tzinfo=UTC)
    content = {
        "batch": "b1",
        "business_date": date(2026, 1, 16),
        "stage": "plan",
        "pack": "cn",
        "decided_for": at,
        "verdict": "defer",
        "scheduled_at": None,
        "rule_id": None,
        "reason": "outside the hours",
        "consulted": "cn.a,cn.b",
        "violations": '[{"rule": "cn.b", "verdict": "defer", "until": null, "message": "m"}]',
    }
    rows = [
        {**content, "action_id": 1},
        {**content, "action_id": 2},  # alike: the same ruling
        {**content, "action_id": 3, "scheduled_at": at, "rule_id": "cn.b"},
        {**content, "action_id": 1, "stage": "send"},
    ]
    with empty.begin() as conn:
        conn.execute(insert(borrowers).values(id="b1"))
        conn.execute(
            insert(cases).values(id=1, borrower_id="b1", opened_on=date(2026, 1, 1), currency="CNY")
        )
        conn.execute(
            insert(actions),
            [
                {
                    "id": n,
                    "case_id": 1,
                    "business_date": date(2026, 1, 16),
                    "step": f"s{n}",
                    "target_type": "borrower",
                    "target_id": "b1",
                    "channel": "sms",
                    "template": "t",
                }
                for n in (1, 2, 3)
            ],
        )
        names = ", ".join(rows[0])
        marks = ", ".join(f":{c}" for c in rows[0])
        conn.execute(text(f"INSERT INTO gate_decisions ({names}) VALUES ({marks})"), rows)

    # the moments are compared by their presence: each dialect reads them back its own way
    shown = (
        "{p}batch, {p}stage, {p}pack, {p}verdict, {p}rule_id, {p}reason, {p}consulted, "
        "{p}violations, {p}decided_for IS NOT NULL, {p}scheduled_at IS NOT NULL"
    )

    def recorded(sql: str) -> list[tuple[Any, ...]]:
        with empty.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]

    wide = f"SELECT action_id, {shown.format(p='')} FROM gate_decisions ORDER BY id"
    before = recorded(wide)
    migrate.upgrade(empty, "0031")
    assert recorded("SELECT COUNT(*) FROM gate_rulings") == [(3,)]
    joined = (
        f"SELECT g.action_id, {shown.format(p='r.')} FROM gate_decisions g "
        "JOIN gate_rulings r ON r.id = g.ruling_id ORDER BY g.id"
    )
    assert recorded(joined) == before
    copied = ("business_date", "stage", "verdict", "rule_id")
    assert recorded(
        f"SELECT {', '.join(f'g.{c}' for c in copied)} FROM gate_decisions g ORDER BY g.id"
    ) == recorded(
        f"SELECT {', '.join(f'r.{c}' for c in copied)} FROM gate_decisions g "
        "JOIN gate_rulings r ON r.id = g.ruling_id ORDER BY g.id"
    )
    with empty.begin() as conn:  # a new ruling takes an id after the moved ones
        new = conn.execute(
            insert(gate_rulings).values(**content).returning(gate_rulings.c.id)
        ).scalar_one()
    assert new > 3
    # 0032: a decision at planning goes onto its action, the later stages' rows stay
    migrate.upgrade(empty)
    on_actions = (
        f"SELECT a.id, {shown.format(p='r.')} FROM actions a "
        "JOIN gate_rulings r ON r.id = a.ruling_id ORDER BY a.id"
    )
    assert recorded(on_actions) == [r for r in before if r[2] == "plan"]
    assert recorded(joined) == [r for r in before if r[2] != "plan"]
    migrate.downgrade(empty, "0021")
    assert sorted(recorded(wide)) == sorted(before)
