"""The night as one command: for each business date, its steps in order, each recorded
(`nights`, `night_steps`) so that a failed night resumes from the step that failed; the whole
held under one lock row so that two nights never overlap. The steps themselves are in
`services/night_steps.py`; alerts for a failed night in `services/night_alerts.py`."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from arrears.engine.run_day import last_business_date
from arrears.observability import logs
from arrears.store.tables_ops import night_lock, night_steps, nights

LOCK_NAME = "nightly"
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class NightStatus(StrEnum):
    RUNNING = "running"
    FAILED = "failed"
    FINISHED = "finished"


class StepStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing to do (no extract directory that night): counts as done


DONE = (StepStatus.FINISHED, StepStatus.SKIPPED)


@dataclass(frozen=True)
class StepContext:
    as_of: date
    attempt: int  # 1 the first time; more when a failed night is resumed from this step


@dataclass(frozen=True)
class StepResult:
    rows: int = 0
    note: str = ""
    skipped: bool = False


Step = Callable[[StepContext], StepResult]


class NightStepFailed(Exception):
    """A step that ran but must not count as done (e.g. messages left unsent); says why."""


class NightLockHeld(RuntimeError):
    def __init__(self, holder: str, since: datetime) -> None:
        self.holder, self.since = holder, since
        super().__init__(
            f"another night is running: the lock is held by {holder} since "
            f"{since.isoformat(timespec='seconds')}; wait for it (--wait SECONDS), or if that "
            "night is dead, break the lock with `arrears nightly --break-lock`"
        )


class NightFailed(Exception):
    def __init__(self, as_of: date, step: str, error: str, resume: str) -> None:
        self.as_of, self.step, self.error, self.resume = as_of, step, error, resume
        super().__init__(
            f"the night of {as_of.isoformat()} failed at step {step}: {error}; "
            f"to resume from {step}, run: {resume}"
        )


@dataclass(frozen=True)
class LastNight:
    business_date: date
    status: NightStatus
    finished_at: datetime | None
    failed_step: str | None


def _day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def last_night(engine: Engine) -> LastNight | None:
    """The latest night recorded (its date, status, when it finished, the step that failed):
    what a readiness check asks ("did last night finish?"). None before the first night."""
    with engine.connect() as conn:
        row = conn.execute(select(nights).order_by(nights.c.business_date.desc()).limit(1)).first()
    if row is None:
        return None
    return LastNight(
        business_date=_day(row.business_date),
        status=NightStatus(row.status),
        finished_at=row.finished_at,
        failed_step=row.failed_step,
    )


# --- the lock -----------------------------------------------------------------------------


def lock_holder(by: str) -> str:
    return f"{by}@{socket.gethostname()} pid {os.getpid()}"[-200:]  # the pid is kept


def _held(engine: Engine) -> tuple[str, datetime] | None:
    with engine.connect() as conn:
        row = conn.execute(select(night_lock).where(night_lock.c.name == LOCK_NAME)).first()
    return None if row is None else (row.holder, row.since)


def _try_take(engine: Engine, holder: str, now: datetime) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(insert(night_lock).values(name=LOCK_NAME, holder=holder, since=now))
    except IntegrityError:
        return False
    return True


@contextlib.contextmanager
def held_lock(
    engine: Engine,
    holder: str,
    *,
    wait: float = 0.0,
    clock: Clock = _now,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = 1.0,
) -> Iterator[None]:
    """Hold the night's lock row while the block runs; refuse with `NightLockHeld` (naming the
    holder) when another holds it for longer than `wait` seconds."""
    deadline = time.monotonic() + wait
    while not _try_take(engine, holder, clock()):
        if time.monotonic() >= deadline:
            held = _held(engine)
            if held is None:  # released between the two statements: try again
                continue
            raise NightLockHeld(*held)
        sleep(min(poll, max(deadline - time.monotonic(), 0.0)))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(
                delete(night_lock).where(
                    night_lock.c.name == LOCK_NAME, night_lock.c.holder == holder
                )
            )


def break_lock(engine: Engine) -> tuple[str, datetime] | None:
    """Remove a stale lock (its holder died); who held it and since when, or None."""
    held = _held(engine)
    with engine.begin() as conn:
        conn.execute(delete(night_lock).where(night_lock.c.name == LOCK_NAME))
    return held


# --- which nights ------------------------------------------------------------------------


def dates_to_run(engine: Engine, through: date) -> list[date]:
    """Calendar mode: every business date after the last finished night up to `through`, in
    order, starting earlier at a night that did not finish (it resumes; finished nights on the
    way are passed over). Before the first recorded night: the day after the last daily run, or
    `through` alone on a new install."""
    with engine.connect() as conn:
        done = conn.scalar(
            select(func.max(nights.c.business_date)).where(nights.c.status == NightStatus.FINISHED)
        )
        first_open = conn.scalar(
            select(func.min(nights.c.business_date)).where(nights.c.status != NightStatus.FINISHED)
        )
        ran = last_business_date(conn)
    after_done = None if done is None else _day(done) + timedelta(days=1)
    if first_open is not None:  # a failed or interrupted night comes first, wherever it is
        start = _day(first_open) if after_done is None else min(_day(first_open), after_done)
    elif after_done is not None:
        start = after_done
    elif ran is not None:
        start = ran + timedelta(days=1)
    else:
        start = through
    return [start + timedelta(days=n) for n in range((through - start).days + 1)]


# --- one night ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NightOutcome:
    as_of: date
    ran: list[str]  # steps run this time
    kept: list[str]  # steps already done earlier (a resumed night)
    already_finished: bool = False


def _open_night(conn: Connection, as_of: date, by: str, now: datetime) -> str | None:
    status = conn.scalar(select(nights.c.status).where(nights.c.business_date == as_of))
    if status is None:
        conn.execute(
            insert(nights).values(
                business_date=as_of, status=NightStatus.RUNNING, started_at=now, by=by[:64]
            )
        )
    elif status != NightStatus.FINISHED:
        conn.execute(
            update(nights)
            .where(nights.c.business_date == as_of)
            .values(status=NightStatus.RUNNING, runs=nights.c.runs + 1, error=None, by=by[:64])
        )
    return None if status is None else str(status)


def _step_row(conn: Connection, as_of: date, name: str) -> Any:
    key = (night_steps.c.business_date == as_of) & (night_steps.c.step == name)
    return conn.execute(select(night_steps).where(key)).first()


def _start_step(engine: Engine, as_of: date, name: str, position: int, now: datetime) -> int:
    with engine.begin() as conn:
        row = _step_row(conn, as_of, name)
        if row is None:
            conn.execute(
                insert(night_steps).values(
                    business_date=as_of,
                    step=name,
                    position=position,
                    status=StepStatus.RUNNING,
                    started_at=now,
                )
            )
            return 1
        conn.execute(
            update(night_steps)
            .where(night_steps.c.business_date == as_of, night_steps.c.step == name)
            .values(
                status=StepStatus.RUNNING,
                started_at=now,
                finished_at=None,
                error=None,
                attempts=row.attempts + 1,
            )
        )
        return int(row.attempts) + 1


def _end_step(engine: Engine, as_of: date, name: str, values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(night_steps)
            .where(night_steps.c.business_date == as_of, night_steps.c.step == name)
            .values(**values)
        )
        if values["status"] == StepStatus.FAILED:
            conn.execute(
                update(nights)
                .where(nights.c.business_date == as_of)
                .values(status=NightStatus.FAILED, failed_step=name, error=values["error"])
            )


def run_night(
    engine: Engine,
    as_of: date,
    steps: Sequence[tuple[str, Step]],
    *,
    by: str,
    resume: str,
    clock: Clock = _now,
) -> NightOutcome:
    """Run the night of `as_of`: each step not yet done, in order, recorded as it goes. A step
    that raises fails the night (`NightFailed`, with the command that resumes it); the steps
    before it stay done and are not run again."""
    with engine.begin() as conn:
        before = _open_night(conn, as_of, by, clock())
    if before == NightStatus.FINISHED:
        return NightOutcome(as_of, [], [], already_finished=True)
    ran: list[str] = []
    kept: list[str] = []
    for position, (name, step) in enumerate(steps, start=1):
        with engine.connect() as conn:
            row = _step_row(conn, as_of, name)
        if row is not None and row.status in DONE:
            kept.append(name)
            continue
        started = clock()
        attempt = _start_step(engine, as_of, name, position, started)
        tick = time.perf_counter()
        try:
            result = step(StepContext(as_of, attempt))
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            _end_step(engine, as_of, name, _ended(StepStatus.FAILED, tick, clock, error=error))
            # the kind of failure only: an error's text may quote a row of an extract
            logs.event(
                "nightly",
                "step failed",
                business_date=as_of,
                step=name,
                attempt=attempt,
                error_kind=type(exc).__name__,
            )
            raise NightFailed(as_of, name, error, resume) from exc
        status = StepStatus.SKIPPED if result.skipped else StepStatus.FINISHED
        _end_step(
            engine,
            as_of,
            name,
            _ended(status, tick, clock, rows=result.rows, note=result.note[:300] or None),
        )
        logs.event(
            "nightly",
            f"step {status}",
            business_date=as_of,
            step=name,
            attempt=attempt,
            seconds=round(time.perf_counter() - tick, 3),
            rows=result.rows,
        )
        ran.append(name)
    with engine.begin() as conn:
        conn.execute(
            update(nights)
            .where(nights.c.business_date == as_of)
            .values(status=NightStatus.FINISHED, finished_at=clock(), failed_step=None, error=None)
        )
    logs.event("nightly", "night finished", business_date=as_of, ran=ran, kept=kept)
    return NightOutcome(as_of, ran, kept)


def _ended(status: StepStatus, tick: float, clock: Clock, **values: Any) -> dict[str, Any]:
    seconds = round(time.perf_counter() - tick, 3)
    return {"status": status, "finished_at": clock(), "seconds": seconds, **values}


def night_steps_of(engine: Engine, as_of: date) -> list[dict[str, Any]]:
    """The recorded steps of one night, in order (for `arrears nights` and tests)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(night_steps)
            .where(night_steps.c.business_date == as_of)
            .order_by(night_steps.c.position)
        )
        return [dict(r._mapping) for r in rows]


def recent_nights(engine: Engine, limit: int = 14) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(nights).order_by(nights.c.business_date.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]
