"""Backups: the database (SQLite's online backup, or `pg_dump` of one consistent snapshot) and
a copy of the key ring in one directory, with a manifest of what it holds; and a verification
that restores it into a scratch database and checks the schema reaches this version's head, the
row counts match the manifest, and the personal data decrypts with the key ring.

    <out>/manifest.json   dialect, schema revision, rows per table, key ids, files
    <out>/database.sqlite (SQLite) | <out>/database.dump (PostgreSQL, pg_dump custom format)
    <out>/keys.json       the key ring (mode 600; keep a copy apart from the data)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url

from arrears.privacy.keycheck import KeyRingMismatch, check_fits, data_keys
from arrears.privacy.keyring import KeyRing, KeyRingInvalid
from arrears.privacy.rotation import encrypted_columns
from arrears.store import migrate
from arrears.store.db import make_engine, normalise_url
from arrears.store.schema import metadata

MANIFEST, KEYS = "manifest.json", "keys.json"
SQLITE_FILE, PG_FILE = "database.sqlite", "database.dump"


class BackupProblem(ValueError):
    """A backup that cannot be made or does not verify; the message says what and why."""


class BackupTargetNotEmpty(BackupProblem):
    pass


class BackupToolMissing(BackupProblem):
    pass


class BackupUnreadable(BackupProblem):
    pass


class BackupRowsDiffer(BackupProblem):
    pass


class BackupSchemaUnknown(BackupProblem):
    pass


class BackupKeyRingMismatch(BackupProblem):
    pass


@dataclass(frozen=True)
class BackupManifest:
    created_at: str
    dialect: str
    revision: str | None
    database_file: str
    rows: dict[str, int]
    key_ids: list[str]
    schema: str | None = None  # PostgreSQL: the schema dumped

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


@dataclass
class VerifyReport:
    revision: str | None
    head: str | None
    upgraded: bool
    tables: int
    rows: int
    decrypted: int
    notes: list[str] = field(default_factory=list)


# --- create ------------------------------------------------------------------------------


def create_backup(engine: Engine, ring: KeyRing, out: Path, *, now: datetime) -> BackupManifest:
    """Back the database and its key ring up into `out` (new or empty)."""
    if out.exists() and any(out.iterdir()):
        raise BackupTargetNotEmpty(f"{out} is not empty; give a new directory for each backup")
    out.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        rows, schema = _sqlite_backup(engine, out / SQLITE_FILE), None
        name = SQLITE_FILE
    else:
        rows, schema = _pg_dump(engine, out / PG_FILE)
        name = PG_FILE
    keys = out / KEYS
    keys.touch(mode=0o600)
    keys.write_text(ring.to_json(), "utf-8")
    manifest = BackupManifest(
        created_at=now.isoformat(),
        dialect=engine.dialect.name,
        revision=migrate.current_revision(engine),
        database_file=name,
        rows=rows,
        key_ids=sorted(ring.keys),
        schema=schema,
    )
    (out / MANIFEST).write_text(manifest.to_json(), "utf-8")
    return manifest


def _sqlite_backup(engine: Engine, target: Path) -> dict[str, int]:
    source_path = engine.url.database
    if not source_path or source_path == ":memory:":
        raise BackupProblem("an in-memory SQLite database cannot be backed up")
    with (
        contextlib.closing(sqlite3.connect(source_path)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)  # the online backup API: a consistent copy while others write
    copy = make_engine(f"sqlite:///{target}")
    try:
        with copy.connect() as conn:
            return row_counts(conn)  # of the copy itself: what was saved
    finally:
        copy.dispose()


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupToolMissing(
            f"{name} is not installed; install the PostgreSQL client of the server's version "
            "(e.g. apt-get install postgresql-client)"
        )
    return found


def libpq_url(url: URL) -> str:
    """A URL pg_dump, pg_restore and psql understand (no SQLAlchemy driver name, and no
    password: that goes in PGPASSWORD, not on a command line others can read)."""
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _pg_dump(engine: Engine, target: Path) -> tuple[dict[str, int], str]:
    """pg_dump of the very snapshot the rows were counted in (one exported snapshot)."""
    pg_dump = _tool("pg_dump")
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
            schema = str(conn.scalar(text("SELECT current_schema()")))
            rows = row_counts(conn)
            args = [pg_dump, "--format=custom", "--no-owner", f"--snapshot={snapshot}"]
            if schema != "public":
                args.append(f"--schema={schema}")
            args += ["--file", str(target), libpq_url(engine.url)]
            _run(args, "pg_dump", engine.url)
    return rows, schema


def _run(args: list[str], what: str, url: URL) -> None:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise BackupProblem(f"{what} failed ({done.returncode}): {done.stderr.strip()[:2000]}")


def row_counts(conn: Connection) -> dict[str, int]:
    """Rows of every table of the platform the database holds, by name."""
    present = set(inspect(conn).get_table_names())
    return {
        table.name: int(conn.scalar(select(func.count()).select_from(table)) or 0)
        for table in sorted(metadata.sorted_tables, key=lambda t: t.name)
        if table.name in present
    }


# --- verify ------------------------------------------------------------------------------


def read_manifest(path: Path) -> tuple[Path, BackupManifest]:
    folder = path if path.is_dir() else path.parent
    try:
        data: dict[str, Any] = json.loads((folder / MANIFEST).read_text("utf-8"))
        manifest = BackupManifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise BackupUnreadable(f"{folder / MANIFEST} cannot be read: {exc}") from None
    if not (folder / manifest.database_file).exists():
        raise BackupUnreadable(f"the backup lacks its database file {manifest.database_file}")
    return folder, manifest


def _ring(folder: Path, keys: Path | None) -> KeyRing:
    source = keys or folder / KEYS
    try:
        return KeyRing.from_json(source.read_text("utf-8"), source=source)
    except (OSError, KeyRingInvalid, ValueError) as exc:
        raise BackupKeyRingMismatch(f"the key ring at {source} cannot be read: {exc}") from None


def verify_backup(
    path: Path, *, keys: Path | None = None, scratch_url: str | None = None
) -> VerifyReport:
    """Restore the backup at `path` into a scratch database (a temporary SQLite file, or a new
    database on the PostgreSQL server of `scratch_url`, dropped afterwards) and check it."""
    folder, manifest = read_manifest(path)
    ring = _ring(folder, keys)
    with _restored(folder, manifest, scratch_url) as engine:
        with engine.connect() as conn:
            rows = row_counts(conn)
            _same_rows(manifest.rows, rows)
            decrypted = _decrypts(conn, ring, keys or folder / KEYS)
        revision, head = migrate.current_revision(engine), migrate.head_revision()
        upgraded = False
        if revision != head:
            try:
                migrate.upgrade(engine)  # a backup of an older version must reach this head
            except Exception as exc:
                raise BackupSchemaUnknown(
                    f"the restored database is at schema revision {revision}, which this "
                    f"version (head {head}) cannot upgrade: {exc}"
                ) from None
            upgraded = True
        return VerifyReport(
            revision=revision,
            head=migrate.current_revision(engine),
            upgraded=upgraded,
            tables=len(rows),
            rows=sum(rows.values()),
            decrypted=decrypted,
        )


def _same_rows(expected: dict[str, int], found: dict[str, int]) -> None:
    differ = [
        f"{name}: {expected.get(name)} in the manifest, {found.get(name)} restored"
        for name in sorted(set(expected) | set(found))
        if expected.get(name) != found.get(name)
    ]
    if differ:
        raise BackupRowsDiffer("the restored rows differ from the manifest: " + "; ".join(differ))


def _decrypts(conn: Connection, ring: KeyRing, where: Path) -> int:
    """Every encrypted value opens with the ring (and the ring signed the audit log)."""
    try:
        check_fits(ring, data_keys(conn), str(where))
    except KeyRingMismatch as exc:
        raise BackupKeyRingMismatch(str(exc)) from None
    present = set(inspect(conn).get_table_names())
    opened = 0
    for table, cols in encrypted_columns():
        if table.name not in present:
            continue
        for col in cols:
            stream = conn.execution_options(yield_per=5000).execute(
                select(col).where(col.isnot(None))
            )
            for row in stream:
                blob: Any = row[0]
                try:
                    ring.decrypt(blob)
                except Exception as exc:
                    raise BackupKeyRingMismatch(
                        f"the key ring at {where} does not open {table.name}.{col.name} "
                        f"({type(exc).__name__}); use the key file the data was written with"
                    ) from None
                opened += 1
    return opened


@contextlib.contextmanager
def _restored(folder: Path, manifest: BackupManifest, scratch_url: str | None) -> Iterator[Engine]:
    if manifest.dialect == "sqlite":
        with tempfile.TemporaryDirectory(prefix="arrears-verify-") as scratch:
            copy = Path(scratch) / "restored.db"
            shutil.copyfile(folder / manifest.database_file, copy)
            engine = make_engine(f"sqlite:///{copy}")
            try:
                yield engine
            finally:
                engine.dispose()
        return
    if not scratch_url or not normalise_url(scratch_url).startswith("postgresql"):
        raise BackupProblem(
            "a PostgreSQL backup is verified on a PostgreSQL server: give --scratch-url "
            "postgresql://user@host/db (a database is created there and dropped afterwards)"
        )
    with _scratch_database(make_url(normalise_url(scratch_url))) as url:
        _run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "--dbname",
                libpq_url(url),
                str(folder / manifest.database_file),
            ],
            "pg_restore",
            url,
        )
        schema = manifest.schema or "public"
        engine = make_engine(
            url.render_as_string(hide_password=False),
            connect_args={"options": f"-csearch_path={schema}"},
        )
        try:
            yield engine
        finally:
            engine.dispose()


@contextlib.contextmanager
def _scratch_database(server: URL) -> Iterator[URL]:
    name = f"arrears_verify_{uuid.uuid4().hex[:12]}"
    admin = make_engine(
        server.set(query={}).render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name, query={})
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
