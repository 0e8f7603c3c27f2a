"""The few counts a metrics scrape and a readiness probe read: cheap, grouped, no personal data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Engine, func, select, text

from arrears.store import tables as t
from arrears.store import tables_ops


def ping(engine: Engine) -> None:
    """Raise when the database cannot be reached."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def outbox_by_status(engine: Engine) -> dict[str, int]:
    """Messages of the outbox by status (pending, sending, sent, dead, ...)."""
    o = t.outbox
    with engine.connect() as conn:
        rows = conn.execute(select(o.c.status, func.count()).group_by(o.c.status))
        return {str(status): int(n) for status, n in rows}


def cases_by_status(engine: Engine) -> dict[str, int]:
    c = t.cases
    with engine.connect() as conn:
        rows = conn.execute(select(c.c.status, func.count()).group_by(c.c.status))
        return {str(status): int(n) for status, n in rows}


class RunLogged(NamedTuple):
    business_date: date
    finished_at: datetime
    rows: int


def last_run(engine: Engine) -> RunLogged | None:
    """The last daily run the run log holds: business date, when it finished, rows changed."""
    log = t.run_log
    with engine.connect() as conn:
        row = conn.execute(
            select(log.c.business_date, log.c.finished_at, log.c.rows)
            .where(log.c.step == "run_day")
            .order_by(log.c.business_date.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    finished = _moment(row.finished_at)
    assert finished is not None
    return RunLogged(_day(row.business_date), finished, int(row.rows))


class NightFigures(NamedTuple):
    business_date: date
    status: str
    finished_at: datetime | None
    steps: dict[str, tuple[float | None, int | None]]  # step -> (seconds, rows)


def last_night_figures(engine: Engine) -> NightFigures | None:
    """The latest night of `arrears nightly` and its steps' seconds and rows."""
    nights, steps = tables_ops.nights, tables_ops.night_steps
    with engine.connect() as conn:
        night = conn.execute(
            select(nights.c.business_date, nights.c.status, nights.c.finished_at)
            .order_by(nights.c.business_date.desc())
            .limit(1)
        ).first()
        if night is None:
            return None
        rows = conn.execute(
            select(steps.c.step, steps.c.seconds, steps.c.rows)
            .where(steps.c.business_date == night.business_date)
            .order_by(steps.c.position)
        )
        figures = {str(r.step): (r.seconds, r.rows) for r in rows}
    return NightFigures(
        _day(night.business_date), str(night.status), _moment(night.finished_at), figures
    )


def _day(value: Any) -> date:
    """SQLite hands dates back as text."""
    return date.fromisoformat(value) if isinstance(value, str) else cast(date, value)


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else cast(datetime, value)
