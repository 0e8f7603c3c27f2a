"""The audit log's anchor outside the database: a signed head.

The hash chain shows an edited entry and a gap, but not entries deleted from the end, nor an
emptied table: what is left is still a consistent chain. So every transaction that appends to the
log also writes, when it commits, the last entry's sequence number and hash to a small file,
signed with a key derived from the key ring's index key:

    <key file's folder>/audit-head-<database id>.json     (always, when the ring is a file)
    <ARREARS_AUDIT_ANCHOR_DIR>/audit-head-<database id>.json   (when that is set)

`arrears audit verify` reads the anchors and fails when the log ends before the anchored entry,
or holds another entry under its number. An anchor only moves forward: an append never
overwrites an anchor the log no longer reaches (the evidence stays until an operator runs
`arrears audit anchor` after a restore). The database id is the SQLite file's absolute path, or
the PostgreSQL host, port, database and schema, so two databases never share an anchor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event, select, text

from arrears.privacy.keyring import KeyRing
from arrears.store.tables_compliance import audit_log

FILE_PREFIX = "audit-head-"
_ids: weakref.WeakKeyDictionary[Engine, tuple[str, str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


@dataclass(frozen=True)
class Anchor:
    path: Path
    head: Head | None  # None: the file is missing
    signed: bool = True  # False: the file exists but its signature does not match
    at: str = ""


def _anchor_key(ring: KeyRing) -> bytes:
    return hmac.new(ring.index_key, b"arrears audit anchor v1", hashlib.sha256).digest()


def database_id(conn: Connection) -> tuple[str, str]:
    """(short id for the file name, readable name) of the database `conn` is on."""
    engine = conn.engine
    cached = _ids.get(engine)
    if cached is not None:
        return cached
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        name = (
            f"sqlite:{Path(database).resolve()}"
            if database and database != ":memory:"
            else "sqlite:memory"
        )
    else:
        row = conn.execute(text("SELECT current_database(), current_schema()")).one()
        name = f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{row[0]}/{row[1]}"
    found = (hashlib.sha256(name.encode()).hexdigest()[:16], name)
    _ids[engine] = found
    return found


def locations(conn: Connection, ring: KeyRing) -> list[Path]:
    """Where this database's anchor is kept for `ring`: beside the key file, and in the extra
    anchor folder if one is configured. Empty for a ring from the environment without one."""
    folders = ([ring.source.parent] if ring.source is not None else []) + list(ring.anchor_dirs)
    if not folders:
        return []
    short, _ = database_id(conn)
    seen: list[Path] = []
    for folder in folders:
        path = folder / f"{FILE_PREFIX}{short}.json"
        if path not in seen:
            seen.append(path)
    return seen


def _signature(ring: KeyRing, database: str, head: Head) -> str:
    body = f"{database}\x1f{head.seq}\x1f{head.hash}"
    return hmac.new(_anchor_key(ring), body.encode(), hashlib.sha256).hexdigest()


def read(path: Path, ring: KeyRing, database: str) -> Anchor:
    if not path.exists():
        return Anchor(path, None)
    try:
        data = json.loads(path.read_text())
        head = Head(int(data["seq"]), str(data["hash"]))
        signature = str(data["signature"])
        at = str(data.get("at", ""))
    except (ValueError, KeyError, TypeError, OSError):
        return Anchor(path, Head(0, ""), signed=False)
    good = hmac.compare_digest(signature, _signature(ring, database, head))
    return Anchor(path, head, signed=good, at=at)


def write(path: Path, ring: KeyRing, database: str, head: Head, at: datetime) -> None:
    """Replace the anchor file atomically (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "database": database,
        "seq": head.seq,
        "hash": head.hash,
        "at": at.astimezone(UTC).isoformat(timespec="seconds"),
        "signature": _signature(ring, database, head),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, path)


def hash_at(conn: Connection, seq: int) -> str | None:
    found = conn.scalar(select(audit_log.c.hash).where(audit_log.c.seq == seq))
    return None if found is None else str(found)


# -- moving the anchor when an appending transaction commits --------------------------------


@dataclass
class _Pending:
    ring: KeyRing
    database: str
    paths: list[Path]  # the anchors this transaction may move (the log still reaches them)
    head: Head
    at: datetime
    frozen: list[Path] = field(default_factory=list)


_pending: weakref.WeakKeyDictionary[Connection, _Pending] = weakref.WeakKeyDictionary()


def _still_reached(conn: Connection, anchor: Anchor, before: Head | None) -> bool:
    """Does the log (as it was before this append) still hold the anchored entry?"""
    if anchor.head is None:
        return True  # nothing anchored yet: the first append anchors the log
    if not anchor.signed:
        return False
    if before is None or anchor.head.seq > before.seq:
        return False
    if anchor.head.seq == before.seq:
        return anchor.head.hash == before.hash
    return hash_at(conn, anchor.head.seq) == anchor.head.hash


def note_append(
    conn: Connection, ring: KeyRing, before: Head | None, head: Head, at: datetime
) -> None:
    """Called by `audit.append` under the append lock: the new head is anchored when the
    transaction commits (nothing is written for a transaction that rolls back)."""
    pending = _pending.get(conn)
    if pending is not None and pending.ring is ring:
        pending.head, pending.at = head, at
        return
    paths = locations(conn, ring)
    if not paths:
        return
    _, database = database_id(conn)
    movable: list[Path] = []
    frozen: list[Path] = []
    for path in paths:
        anchor = read(path, ring, database)
        (movable if _still_reached(conn, anchor, before) else frozen).append(path)
    _pending[conn] = _Pending(ring, database, movable, head, at, frozen)
    if not event.contains(conn, "commit", _on_commit):
        event.listen(conn, "commit", _on_commit)
        event.listen(conn, "rollback", _on_rollback)
        event.listen(conn, "rollback_savepoint", _on_rollback_savepoint)


def _on_commit(conn: Connection) -> None:
    # fired just before the database commits, while the append lock is still held, so anchors
    # are written in the order the entries were
    pending = _pending.pop(conn, None)
    if pending is None:
        return
    for path in pending.paths:
        write(path, pending.ring, pending.database, pending.head, pending.at)


def _on_rollback(conn: Connection) -> None:
    _pending.pop(conn, None)


def _on_rollback_savepoint(conn: Connection, name: str, context: Any) -> None:
    # entries appended inside the savepoint may be gone: anchor nothing from this transaction
    # (the anchor lags, never leads; the next append moves it on)
    _pending.pop(conn, None)


# -- checking -------------------------------------------------------------------------------


def check(conn: Connection, ring: KeyRing, last: Head | None) -> tuple[list[str], list[Path]]:
    """Problems found comparing the log's last entry with every anchor, and the anchors read.

    `last` is the log's last entry (None: the log is empty)."""
    paths = locations(conn, ring)
    if not paths:
        return [], []
    _, database = database_id(conn)
    problems: list[str] = []
    anchors = [read(p, ring, database) for p in paths]
    present = [a for a in anchors if a.head is not None]
    if not present:
        if last is not None:
            where = ", ".join(str(p) for p in paths)
            problems.append(
                f"no anchor at {where}: entries deleted from the end would go unnoticed; "
                "if the log is known good (first run after an upgrade, or after a restore), "
                "run `arrears audit anchor`"
            )
        return problems, paths
    for anchor in present:
        assert anchor.head is not None
        if not anchor.signed:
            problems.append(
                f"the anchor {anchor.path} is not signed by this key ring (edited, or another "
                "ring's); restore it or re-anchor with `arrears audit anchor`"
            )
            continue
        seq = anchor.head.seq
        if last is None:
            problems.append(
                f"the log is empty but the anchor {anchor.path} (written {anchor.at}) records "
                f"{seq} entries: every entry was deleted"
            )
        elif last.seq < seq:
            gone = f"entry {seq}" if last.seq + 1 == seq else f"entries {last.seq + 1}-{seq}"
            problems.append(
                f"{gone} deleted from the end of the log: the anchor {anchor.path} "
                f"(written {anchor.at}) records entry {seq}, the log ends at {last.seq}"
            )
        else:
            found = last.hash if last.seq == seq else hash_at(conn, seq)
            if found != anchor.head.hash:
                problems.append(
                    f"entry {seq} is not the entry the anchor {anchor.path} records: the log "
                    "was replaced or rewritten from there on"
                )
    return problems, paths


def reanchor(conn: Connection, ring: KeyRing, head: Head | None, at: datetime) -> list[Path]:
    """Sign the log's present head into every anchor (after a restore, or the first time)."""
    paths = locations(conn, ring)
    _, database = database_id(conn)
    for path in paths:
        if head is None:
            path.unlink(missing_ok=True)
        else:
            write(path, ring, database, head, at)
    return paths


def discard_sqlite(db_file: Path, folders: list[Path]) -> None:
    """Forget the anchors of a SQLite file that is deliberately deleted and made again (the
    demo's database): a new log starts a new chain."""
    name = f"sqlite:{db_file.resolve()}"
    short = hashlib.sha256(name.encode()).hexdigest()[:16]
    for folder in folders:
        (folder / f"{FILE_PREFIX}{short}.json").unlink(missing_ok=True)


def describe(paths: list[Path]) -> dict[str, Any]:
    return {"anchors": [str(p) for p in paths]}
