"""Personal-data reveals go to the privacy area's tamper-evident audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing

REVEAL = "reveal"


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


def recent(conn: Connection, kind: str, limit: int = 100) -> list[dict[str, Any]]:
    return audit.entries(conn, kind=kind, limit=limit)
