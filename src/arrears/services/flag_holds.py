"""A borrower flag held on behalf of a workflow (a dispute, a complaint that pauses outreach):
set once however many of its cases are open, lifted when the last one ends. The gate honours
the flag (`compliance/rules/flags.py`); the workflows audit their own steps."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, insert, select, update

from arrears.compliance.rules.model import Flag
from arrears.store.tables_compliance import borrower_flags


def hold_flag(
    conn: Connection, borrower_id: str, flag: Flag, *, since: date, note: str, by: str, at: datetime
) -> bool:
    """Set the flag from `since` unless it already holds (not lifted); True when set now."""
    f = borrower_flags.c
    held = conn.execute(
        select(f.id).where(
            f.borrower_id == borrower_id, f.flag == flag.value, f.lifted_on.is_(None)
        )
    ).first()
    if held is not None:
        return False
    conn.execute(
        insert(borrower_flags).values(
            borrower_id=borrower_id, flag=flag.value, since=since, note=note, set_by=by, set_at=at
        )
    )
    return True


def release_flag(conn: Connection, borrower_id: str, flag: Flag, *, on: date) -> None:
    """Lift the held flag on `on` (the workflow's last open case ended)."""
    f = borrower_flags.c
    conn.execute(
        update(borrower_flags)
        .where(f.borrower_id == borrower_id, f.flag == flag.value, f.lifted_on.is_(None))
        .values(lifted_on=on)
    )
