"""What the web application writes to the privacy area's tamper-evident audit log: personal-data
reveals, and every sign-in (accepted, failed, locked out, refused) and sign-out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing

REVEAL = "reveal"
SIGN_IN = audit.AuditKind.LOGIN.value
SIGN_OUT = audit.AuditKind.LOGOUT.value
USER = audit.AuditKind.USER.value  # an account added, enabled or disabled
UNKNOWN_USER = "(unknown)"


def append(
    conn: Connection,
    ring: KeyRing,
    kind: str,
    actor: str,
    subject: str,
    detail: dict[str, Any],
    at: datetime,
) -> int:
    return audit.append(conn, ring, actor=actor, kind=kind, subject=subject, detail=detail, at=at)


def sign_in(
    conn: Connection,
    ring: KeyRing,
    *,
    username: str | None,
    result: str,
    remote: str | None,
    at: datetime,
) -> int:
    """One sign-in attempt: `result` is signed_in | failed | locked | refused.

    `username` is None when the name given is no account's: such a name (often a password typed
    into the wrong field) never enters the permanent log; the lock-out keeps its own record.
    Passwords are never written anywhere.
    """
    detail: dict[str, Any] = {"result": result, "remote": remote or "-"}
    if username is None:
        detail["account"] = "no such account"
    return append(conn, ring, SIGN_IN, username or UNKNOWN_USER, "web", detail, at)


def sign_out(
    conn: Connection, ring: KeyRing, *, username: str, remote: str | None, at: datetime
) -> int:
    detail = {"result": "signed_out", "remote": remote or "-"}
    return append(conn, ring, SIGN_OUT, username, "web", detail, at)


def recent(conn: Connection, kind: str, limit: int = 100) -> list[dict[str, Any]]:
    return audit.entries(conn, kind=kind, limit=limit)
