"""Write an outbox row for every allowed message action of the day, in the run's transaction.

The gate leaves the day's allowed messages queued already (`DayGate`'s `queue`): each gets its
outbox row here and is not written again. The actions written tonight have none yet; for the
day's others, a row already there is skipped by the unique action id (a NOT EXISTS on the
outbox, read while inserting into it, would rescan the pages just written). An action still
`planned` with a moment (planned outside the run, or by a gate that does not queue) is queued
here as before."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from arrears.store.sql import Dialect, dated

MESSAGE_CHANNELS = ("sms", "email", "push", "letter")


def enqueue_messages(conn: Connection, as_of: date, *, staged: str | None = None) -> int:
    """Queue the day's allowed messages; returns how many outbox rows were written.

    `staged`: the night's staging table. Its rows are the actions written tonight: none can
    have an outbox row yet, so theirs are written without a check of each row for a conflict,
    in their borrower's language as the plan staged it; the day's other actions (an earlier
    run's, a hand-planned one) are checked, their language looked up by case."""
    sql = Dialect.of(conn)
    d = sql.date_param("d")
    channels = ", ".join(f"'{c}'" for c in MESSAGE_CHANNELS)
    due = (
        f"a.business_date = {d} AND a.status IN ('planned', 'queued') "
        f"AND a.channel IN ({channels}) AND a.scheduled_at IS NOT NULL"
    )
    looked_up = (
        "COALESCE((SELECT b.language FROM cases c JOIN borrowers b ON b.id = c.borrower_id "
        "WHERE c.id = a.case_id), 'zh-CN')"
    )
    inserted = 0
    others = due
    if staged is not None:
        # CROSS JOIN: SQLite keeps the staged rows outside, each action found by its key
        # (the other way round it read the unindexed staged rows once per action: 112 s for
        # 28,000 messages); PostgreSQL plans it as the join it is
        tonight = f"{staged} s CROSS JOIN actions a"
        inserted += _insert(conn, as_of, tonight, "s.language", f"a.id = s.id AND {due}")
        others = f"{due} AND a.id NOT IN (SELECT s.id FROM {staged} s WHERE s.id IS NOT NULL)"
    inserted += _insert(conn, as_of, "actions a", looked_up, others, "ON CONFLICT DO NOTHING")
    conn.execute(
        dated(
            f"""UPDATE actions SET status = 'queued'
                WHERE business_date = {d} AND status = 'planned' AND channel IN ({channels})
                  AND EXISTS (SELECT 1 FROM outbox o WHERE o.action_id = actions.id)""",
            "d",
        ),
        {"d": as_of},
    )
    return inserted


def _insert(
    conn: Connection, as_of: date, source: str, language: str, where: str, conflict: str = ""
) -> int:
    """The outbox rows of the actions of `source` (`a`) that `where` selects."""
    return (
        conn.execute(
            dated(
                f"""INSERT INTO outbox (action_id, channel, template, language, target_type,
                                       target_id, status, not_before, created_at)
                    SELECT a.id, a.channel, a.template, {language}, a.target_type, a.target_id,
                           'pending', a.scheduled_at, a.scheduled_at
                    FROM {source} WHERE {where} {conflict}""",
                "d",
            ),
            {"d": as_of},
        ).rowcount
        or 0
    )
