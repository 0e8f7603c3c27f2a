"""The audit log: append-only, hash-chained, keyed.

Every entry's hash is an HMAC (key derived from the key ring's index key, so no one without the
key can forge a consistent chain) over the previous entry's hash and the entry itself. Editing an
entry breaks its hash; deleting one breaks the next entry's link; `verify` names the entry.
Entries deleted from the end (or all of them) are found by the anchor outside the database
(`privacy/anchor.py`), which every appending transaction moves forward when it commits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, text

from arrears.privacy import anchor
from arrears.privacy.keyring import KeyRing
from arrears.store.tables_compliance import audit_log

GENESIS = "0" * 64
_LOCK_ID = 0x41554449  # "AUDI": serialises appends on PostgreSQL


class AuditKind(StrEnum):
    REVEAL = "reveal"
    EXPORT = "export"
    OVERRIDE = "override"
    RULE_PACK = "rule_pack"
    LOGIN = "login"  # every web sign-in attempt, accepted or not
    LOGOUT = "logout"
    KEY_ROTATION = "key_rotation"
    RETENTION = "retention"
    FLAG = "flag"
    RECORDING = "recording"  # a call recording stored, played, or refused to a role
    ANCHOR = "anchor"  # the anchor outside the database was re-signed (after a restore)
    TOKEN = "token"  # an integration token issued, revoked or expired
    USER = "user"  # an account added, changed or deactivated
    IMPORT = "import"  # an extract imported
    RUN = "run"  # a daily run
    AGENCY = "agency"  # an agency added, a placement rule, a case placed or recalled
    STRATEGY = "strategy"  # a strategy deployed, approved or rolled back
    LEGAL = "legal"  # a legal rule, a case referred or moved, a demand letter made or read
    COMPLAINT = "complaint"  # a complaint received, assigned, answered or closed


def audit_key(ring: KeyRing) -> bytes:
    return hmac.new(ring.index_key, b"arrears audit log v1", hashlib.sha256).digest()


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def entry_hash(
    key: bytes, prev: str, seq: int, at: datetime, actor: str, kind: str, subject: str, detail: str
) -> str:
    body = "\x1f".join(
        [prev, str(seq), _utc(at).strftime("%Y-%m-%dT%H:%M:%S.%f"), actor, kind, subject, detail]
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def _lock(conn: Connection) -> None:
    """Serialise appends until the transaction ends: an advisory lock on PostgreSQL; on SQLite
    a write that changes nothing takes the database's write lock (waiting its turn) before the
    last entry is read, so two appends never read the same last entry."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
    else:
        conn.execute(text("UPDATE audit_log SET seq = seq WHERE 0 = 1"))


def append(
    conn: Connection,
    ring: KeyRing,
    *,
    actor: str,
    kind: AuditKind | str,
    subject: str,
    detail: dict[str, Any] | str,
    at: datetime,
) -> int:
    """Add one entry at the end of the chain; returns its sequence number."""
    _lock(conn)
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    body = (
        detail
        if isinstance(detail, str)
        else json.dumps(detail, ensure_ascii=False, sort_keys=True)
    )
    at = _utc(at)
    digest = entry_hash(audit_key(ring), prev, seq, at, actor, str(kind), subject, body)
    conn.execute(
        insert(audit_log).values(
            seq=seq,
            at=at,
            actor=actor,
            kind=str(kind),
            subject=subject,
            detail=body,
            prev_hash=prev,
            hash=digest,
        )
    )
    before = anchor.Head(last.seq, last.hash) if last else None
    anchor.note_append(conn, ring, before, anchor.Head(seq, digest), at)
    return seq


@dataclass(frozen=True)
class Break:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}" if self.seq else self.problem


def verify(conn: Connection, ring: KeyRing) -> list[Break]:
    """Every broken entry: edited (hash does not match), deleted (a gap or a broken link), and
    entries deleted from the end (the log stops before its anchor outside the database)."""
    key = audit_key(ring)
    breaks: list[Break] = []
    expected_seq, prev = 1, GENESIS
    last: anchor.Head | None = None
    for row in _rows(conn):
        last = anchor.Head(row.seq, row.hash)
        if row.seq != expected_seq:
            if row.seq == expected_seq + 1:
                gone = f"entry {expected_seq} before it was deleted"
            else:
                gone = f"entries {expected_seq}-{row.seq - 1} before it were deleted"
            breaks.append(Break(row.seq, gone))
        elif row.prev_hash != prev:
            breaks.append(Break(row.seq, "its link to the previous entry is broken"))
        digest = entry_hash(
            key, row.prev_hash, row.seq, row.at, row.actor, row.kind, row.subject, row.detail
        )
        if digest != row.hash:
            breaks.append(Break(row.seq, "was edited: its content does not match its hash"))
        expected_seq, prev = row.seq + 1, row.hash
    problems, _ = anchor.check(conn, ring, last)
    breaks.extend(Break(0, p) for p in problems)  # 0: about the log's end, not one entry
    return breaks


def anchored_at(conn: Connection, ring: KeyRing) -> list[str]:
    """Where the log's anchor is kept for this key ring (empty: not anchored)."""
    return [str(p) for p in anchor.locations(conn, ring)]


def reanchor(conn: Connection, ring: KeyRing, *, by: str, reason: str, at: datetime) -> int:
    """Accept the log as it is now (after a restore, or the first time after an upgrade): sign
    its head into the anchors, then record who did it and why (which moves the anchor on)."""
    _lock(conn)
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    head = anchor.Head(last.seq, last.hash) if last else None
    paths = anchor.reanchor(conn, ring, head, _utc(at))
    return append(
        conn,
        ring,
        actor=by,
        kind=AuditKind.ANCHOR,
        subject="audit_log",
        detail={"reason": reason, "head": head.seq if head else 0, **anchor.describe(paths)},
        at=at,
    )


def _rows(conn: Connection) -> Iterator[Any]:
    result = conn.execution_options(yield_per=5000).execute(
        select(audit_log).order_by(audit_log.c.seq)
    )
    yield from result


def entries(conn: Connection, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    q = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if kind:
        q = q.where(audit_log.c.kind == kind)
    return [dict(r._mapping) for r in conn.execute(q)]
