"""Vulnerable borrowers go to the specialist queue: each night, after the strategy has given every
open case its queue, the cases of borrowers whose `vulnerability` flag holds on the business date
move to `specialist`, set-based. The gate keeps blocking their automated outreach
(`<pack>.flag_vulnerability`, block_automated); a specialist agent asks for one outreach by hand
(`arrears.compliance.send.request_outreach`). A case keeps the specialist it was given when that
agent works the specialist queue; otherwise it goes back to the queue, unassigned. When the flag
is lifted, the strategy's queue applies again the next night."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from arrears.store.sql import Dialect, dated

SPECIALIST_QUEUE = "specialist"
VULNERABILITY = "vulnerability"


def move_vulnerable(conn: Connection, as_of: date) -> int:
    """Move the open cases of vulnerable borrowers to the specialist queue; returns how many
    cases are in it for the night (moved now or already there)."""
    d = Dialect.of(conn).date_param("d")
    vulnerable = f"""SELECT f.borrower_id FROM borrower_flags f
                     WHERE f.flag = '{VULNERABILITY}' AND f.lifted_on IS NULL
                       AND f.since <= {d} AND (f.until IS NULL OR f.until >= {d})"""
    specialists = f"""SELECT u.username FROM users u JOIN team_queues q ON q.team_id = u.team_id
                      WHERE q.queue = '{SPECIALIST_QUEUE}'"""
    return (
        conn.execute(
            dated(
                f"""UPDATE cases SET queue = '{SPECIALIST_QUEUE}',
                           assigned_to = CASE WHEN assigned_to IN ({specialists})
                                              THEN assigned_to END
                    WHERE status = 'open' AND borrower_id IN ({vulnerable})""",
                "d",
            ),
            {"d": as_of},
        ).rowcount
        or 0
    )
