"""Write an outbox row for every allowed message action of the day, in the run's transaction.

The gate leaves the day's allowed messages queued already (`DayGate`'s `queue`): each gets its
outbox row here and is not written again. A row already there is skipped by the unique action
id (a NOT EXISTS on the outbox, read while inserting into it, would rescan the pages just
written). An action still `planned` with a moment (planned outside the run, or by a gate that
does not queue) is queued here as before."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from arrears.store.sql import Dialect, dated

MESSAGE_CHANNELS = ("sms", "email", "push", "letter")


def enqueue_messages(conn: Connection, as_of: date, *, staged: str | None = None) -> int:
    """Queue the day's allowed messages; returns how many outbox rows were written. `staged`:
    the night's staging table, whose rows carry their borrower's language (the others' is
    looked up by case)."""
    sql = Dialect.of(conn)
    d = sql.date_param("d")
    channels = ", ".join(f"'{c}'" for c in MESSAGE_CHANNELS)
    looked_up = (
        "(SELECT b.language FROM cases c JOIN borrowers b ON b.id = c.borrower_id "
        "WHERE c.id = a.case_id)"
    )
    language = f"COALESCE({looked_up}, 'zh-CN')"
    of_staged = ""
    if staged is not None:
        language = f"COALESCE(s.language, {looked_up}, 'zh-CN')"
        of_staged = f"LEFT JOIN {staged} s ON s.id = a.id"
    inserted = conn.execute(
        dated(
            f"""INSERT INTO outbox (action_id, channel, template, language, target_type,
                                   target_id, status, not_before, created_at)
                SELECT a.id, a.channel, a.template, {language}, a.target_type, a.target_id,
                       'pending', a.scheduled_at, a.scheduled_at
                FROM actions a {of_staged}
                WHERE a.business_date = {d} AND a.status IN ('planned', 'queued')
                  AND a.channel IN ({channels}) AND a.scheduled_at IS NOT NULL
                ON CONFLICT DO NOTHING""",
            "d",
        ),
        {"d": as_of},
    ).rowcount
    conn.execute(
        dated(
            f"""UPDATE actions SET status = 'queued'
                WHERE business_date = {d} AND status = 'planned' AND channel IN ({channels})
                  AND EXISTS (SELECT 1 FROM outbox o WHERE o.action_id = actions.id)""",
            "d",
        ),
        {"d": as_of},
    )
    return inserted or 0
