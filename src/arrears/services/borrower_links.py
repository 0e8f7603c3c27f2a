"""The borrower's page behind a link: the link's row (first opened by `auth.open_borrower_link`),
the one-time code sent to the borrower's phone, the session a code or the ID number's last four
characters verify, and what the page reads of the borrower (encrypted: the caller decrypts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from arrears.store import tables as t
from arrears.store.tables_web import borrower_links


def borrower_of_case(conn: Connection, case_id: int) -> str | None:
    return conn.scalar(select(t.cases.c.borrower_id).where(t.cases.c.id == case_id))


def link_row(conn: Connection, token_hash: str) -> Any:
    """The link's row by the hash of its token, or None before its first open."""
    return conn.execute(
        select(borrower_links).where(borrower_links.c.token_hash == token_hash)
    ).first()


def borrower_language(conn: Connection, borrower_id: str) -> str | None:
    return conn.scalar(select(t.borrowers.c.language).where(t.borrowers.c.id == borrower_id))


def borrower_phone_enc(conn: Connection, borrower_id: str) -> bytes | None:
    return conn.scalar(select(t.borrowers.c.phone_enc).where(t.borrowers.c.id == borrower_id))


def borrower_id_number_enc(conn: Connection, borrower_id: str) -> bytes | None:
    return conn.scalar(select(t.borrowers.c.id_number_enc).where(t.borrowers.c.id == borrower_id))


def remember_code(conn: Connection, token_hash: str, code_hash: str, expires_at: datetime) -> None:
    """The hash of the one-time code just sent, and when it stops working."""
    conn.execute(
        update(borrower_links)
        .where(borrower_links.c.token_hash == token_hash)
        .values(otp_hash=code_hash, otp_expires_at=expires_at)
    )


def mark_verified(conn: Connection, token_hash: str, session_hash: str, until: datetime) -> None:
    """The borrower proved who they are: the code is spent, the session works `until`."""
    conn.execute(
        update(borrower_links)
        .where(borrower_links.c.token_hash == token_hash)
        .values(
            otp_hash=None,
            otp_expires_at=None,
            failures=0,
            verified_session_hash=session_hash,
            verified_until=until,
        )
    )


def pending_or_active_plan(conn: Connection, case_id: int) -> int | None:
    """The id of the case's proposed or active plan, if any."""
    p = t.plans
    return conn.scalar(
        select(p.c.id).where(p.c.case_id == case_id, p.c.status.in_(["active", "proposed"]))
    )
