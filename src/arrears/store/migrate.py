"""Schema changes only through Alembic; this runs the package's migrations programmatically.

A schema change (docs/operations.md): edit `store/tables*.py`, then write a revision from the
difference between the migrated schema and the tables:

    python -m arrears.store.migrate revision "accounts: index of accounts past due" \\
        --database postgresql://user@host/scratch

which upgrades the (scratch, empty) database to the current head, compares it with the metadata
and writes `store/migrations/versions/NNNN_<slug>.py` with explicit operations, formatted with
ruff when it is installed. Review it; `tests/integration/test_migrations.py` fails on drift.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations.ops import CreateIndexOp, DropIndexOp, MigrationScript, ModifyTableOps
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Index

from arrears.store import statement_keys

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never upgraded."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this version of the platform knows."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def next_revision_id(cfg: Config) -> str:
    """Revisions are numbered 0001, 0002, … in order."""
    numbers = [
        int(rev.revision)
        for rev in ScriptDirectory.from_config(cfg).walk_revisions()
        if rev.revision.isdigit()
    ]
    return f"{max(numbers, default=0) + 1:04d}"


class NothingToMigrate(Exception):
    """The migrated schema already matches the tables."""


def compare_server_default(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Alembic's server-default comparison, less its one known artefact (False: the same).

    On SQLite Alembic reflects a column's `DEFAULT ''` as the text `('')` and then finds it
    different from the metadata's empty string (`contact_preferences.agreed_hours`, …), every time.
    Every other default goes to Alembic's own comparison (None). The test of the migrations also
    compares the reflected default text with a database built from the metadata, so a default
    that is really missing is still found.
    """
    if (
        context.dialect.name == "sqlite"
        and inspected_default in ("('')", "''")
        and rendered_metadata_default in ("", "''")
    ):
        return False
    return None


def _is_expression_index(index: Index) -> bool:
    return any(not isinstance(e, Column) for e in index.expressions)


def _rewritten_expression_indexes(dropped: list[Index], created: list[Index]) -> set[str]:
    """Names of expression indexes Alembic reports as dropped and created again, unchanged.

    PostgreSQL keeps an index expression as it rewrote it (`CASE WHEN a > b THEN d END` comes back
    as `CASE WHEN (a > b) THEN d ELSE NULL::date END`), so Alembic, comparing text, finds every
    expression index "changed" every time. Such a pair (same table, same name, same uniqueness,
    expressions on both sides) is not reported. What the expression really is, is checked by
    `tests/integration/test_migrations.py`, which compares each index as the database itself
    stores it with the same index built straight from the tables.
    """
    before = {(ix.table.name if ix.table is not None else "", ix.name): ix for ix in dropped}
    same = set()
    for ix in created:
        key = (ix.table.name if ix.table is not None else "", ix.name)
        old = before.get(key)
        if (
            old is not None
            and bool(old.unique) == bool(ix.unique)
            and _is_expression_index(old)
            and _is_expression_index(ix)
        ):
            same.add(str(ix.name))
    return same


def drop_rewritten_expression_indexes(
    context: Any, revision: Any, directives: list[MigrationScript]
) -> None:
    """`process_revision_directives`: a new revision leaves such pairs out (see above)."""
    script = directives[0]
    for ops_list in (script.upgrade_ops_list, script.downgrade_ops_list):
        for ops in ops_list:
            for table_ops in list(ops.ops):
                if not isinstance(table_ops, ModifyTableOps):
                    continue
                drops = [o for o in table_ops.ops if isinstance(o, DropIndexOp)]
                creates = [o for o in table_ops.ops if isinstance(o, CreateIndexOp)]
                same = _rewritten_expression_indexes(
                    [o.to_index() for o in drops], [o.to_index() for o in creates]
                )
                table_ops.ops = [
                    o
                    for o in table_ops.ops
                    if not (isinstance(o, DropIndexOp | CreateIndexOp) and o.index_name in same)
                ]
                if not table_ops.ops:
                    ops.ops.remove(table_ops)


def compare_options(dialect: str) -> dict[str, Any]:
    """How the metadata is compared with a database of this dialect: types and server defaults
    too; on PostgreSQL a key that triggers hold (`store.statement_keys`) is declared in the
    metadata but is no constraint of the database, and is left out. A generated column is left
    out too (Alembic's default comparison fails on it); the migration test compares the
    reflected tables with `create_all`'s, generated columns included."""

    def include_object(obj: Any, name: Any, type_: str, reflected: bool, other: Any) -> bool:
        if type_ == "column" and getattr(obj, "computed", None) is not None:
            return False
        if dialect != "postgresql" or type_ != "foreign_key_constraint" or reflected:
            return True
        columns = [c.name for c in obj.columns]
        return not statement_keys.is_statement_key(
            obj.parent.name, columns, obj.referred_table.name
        )

    return {
        "compare_type": True,
        "compare_server_default": compare_server_default,
        "include_object": include_object,
    }


def pending_changes(engine: Engine) -> list[Any]:
    """What the metadata declares that the (migrated) database lacks, as Alembic compares it
    (less the artefacts explained at `compare_server_default` and
    `_rewritten_expression_indexes`)."""
    from arrears.store.schema import metadata

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=compare_options(conn.dialect.name))
        flat: list[Any] = []
        for diff in compare_metadata(context, metadata):
            # column changes come grouped in a list; table and index changes alone
            flat.extend(diff if isinstance(diff, list) else [diff])
    same = _rewritten_expression_indexes(
        [d[1] for d in flat if d[0] == "remove_index"],
        [d[1] for d in flat if d[0] == "add_index"],
    )
    return [d for d in flat if not (d[0] in ("remove_index", "add_index") and d[1].name in same)]


def revision(engine: Engine, message: str) -> Path:
    """Upgrade `engine` to head, then write a revision of what the metadata adds to it."""
    cfg = alembic_config(engine)
    ruff = shutil.which("ruff")
    if ruff:
        cfg.set_section_option("post_write_hooks", "hooks", "format, fix")
        for hook, options in (
            ("format", "format --quiet REVISION_SCRIPT_FILENAME"),
            ("fix", "check --fix --quiet --exit-zero REVISION_SCRIPT_FILENAME"),
        ):
            cfg.set_section_option("post_write_hooks", f"{hook}.type", "exec")
            cfg.set_section_option("post_write_hooks", f"{hook}.executable", ruff)
            cfg.set_section_option("post_write_hooks", f"{hook}.options", options)
    command.upgrade(cfg, "head")
    if not pending_changes(engine):
        raise NothingToMigrate("the migrations already build the tables as declared")
    script = command.revision(cfg, message=message, autogenerate=True, rev_id=next_revision_id(cfg))
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def main(argv: list[str] | None = None) -> None:
    from arrears.store.db import make_engine

    parser = argparse.ArgumentParser(prog="python -m arrears.store.migrate")
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revision", help="write a revision from the tables' changes")
    rev.add_argument("message")
    rev.add_argument(
        "--database",
        help="a scratch database to compare against (default: a new SQLite file)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.database or f"sqlite:///{Path(tmp) / 'scratch.db'}")
        try:
            print(revision(engine, args.message))
        except NothingToMigrate as exc:
            raise SystemExit(str(exc)) from None
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
