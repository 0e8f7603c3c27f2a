"""The compliance gate as the daily run sees it: a function over the day's planned actions.

The real gate is the rule pack's (`arrears.compliance.batch`), wired in `bootstrap`; this
module holds the protocol and `schedule_without_rules`, which the engine's own tests use to run the
pipeline alone; nothing in the product wires it (the gate fails closed, it never falls back).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from sqlalchemy import Connection, text

from arrears.store.sql import Dialect, dated
from arrears.store.staged_actions import KEY, number


class DayGate(Protocol):
    """Decides the day's planned actions; an allowed action of a channel in `queue` leaves the
    gate with status `queued` (the run writes its outbox row next), any other stays `planned`.
    `staged`: the night's plan in its staging table (`store/staged_actions.py`), which the
    gate writes as actions."""

    def __call__(
        self,
        conn: Connection,
        business_date: date,
        rule_pack: str,
        *,
        queue: Sequence[str] = (),
        staged: str | None = None,
    ) -> object: ...


def schedule_without_rules(
    conn: Connection,
    business_date: date,
    rule_pack: str,
    *,
    queue: Sequence[str] = (),
    staged: str | None = None,
) -> int:
    """Engine tests only: every planned action is scheduled at the start of the business day
    (UTC)."""
    sql = Dialect.of(conn)
    d = sql.date_param("d")
    if staged is not None:  # each row written under its number, as the rule pack's gate does
        number(conn, staged)
        cols = ", ".join(("id", *KEY, "template", "status", "priority"))
        conn.execute(text(f"INSERT INTO actions ({cols}) SELECT {cols} FROM {staged} ORDER BY pid"))
    start = f"{d} || ' 01:00:00'" if sql.sqlite else f"({d} + TIME '01:00')"
    channels = ", ".join(f"'{c}'" for c in queue) or "NULL"
    return (
        conn.execute(
            dated(
                f"UPDATE actions SET scheduled_at = {start}, "
                f"status = CASE WHEN channel IN ({channels}) THEN 'queued' ELSE status END "
                f"WHERE business_date = {d} AND status = 'planned' AND scheduled_at IS NULL",
                "d",
            ),
            {"d": business_date},
        ).rowcount
        or 0
    )
