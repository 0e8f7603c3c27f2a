"""The steps of a night, in order: import the day's extracts, score the open cases (when a
score model is approved), run the day, dispatch the outbox, deliver webhooks, the reports.
Each is safe to run again (a resumed night runs the failed step again): the import skips rows
already stored, the scores of a date are replaced, the run changes nothing on a date it ran,
the dispatcher sends each message once, webhooks deliver each event once per subscriber."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select, update

from arrears.channels.base import Channel, ChannelSet
from arrears.channels.config import CommsConfig, build_adapter, load_channels_file
from arrears.channels.filesink import FileSink
from arrears.engine.run_day import RunReport
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.dispatch import DispatchConfig, Dispatcher
from arrears.services.importing import ImportRejected, import_directory
from arrears.services.night_alerts import load_alert_config
from arrears.services.nightly import NightStepFailed, Step, StepContext, StepResult
from arrears.services.report_schedules import send_due
from arrears.services.reports import actions_as_of, cases_as_of
from arrears.services.webhooks import collect_events, deliver
from arrears.store import tables as t

STEP_NAMES = ("import", "score", "run_day", "dispatch", "webhooks", "reports")


@dataclass(frozen=True)
class NightConfig:
    """Where a night finds its inputs: `extracts` holds one directory per business date
    (`<extracts>/2026-11-28/accounts.csv` …); `channels` the channels file (None: a file sink
    in `outbox_dir`); `reports` where the day's reports are written (None: counted only)."""

    extracts: Path | None = None
    channels: Path | None = None
    outbox_dir: Path = Path(".arrears/outbox")
    reports: Path | None = None
    webhook_allow_private: bool = False
    by: str = "nightly"


def _now() -> datetime:
    return datetime.now(UTC)


def standard_steps(
    engine: Engine,
    keyring: KeyRing,
    run_day: Callable[[date], RunReport],
    config: NightConfig,
    *,
    clock: Callable[[], datetime] = _now,
    score: Callable[[date], StepResult] | None = None,
) -> list[tuple[str, Step]]:
    """The night's steps over one database, in the order they run. `score` is the strategy
    lab's batch with the approved models (`arrears.lab.models.nightly_scorer`): before the
    day runs, so the day's plan reads the day's scores."""
    return [
        ("import", lambda ctx: import_step(engine, keyring, config, ctx, clock())),
        ("score", lambda ctx: score_step(score, ctx)),
        ("run_day", lambda ctx: run_day_step(run_day, ctx)),
        ("dispatch", lambda ctx: dispatch_step(engine, keyring, config, ctx, clock())),
        ("webhooks", lambda ctx: webhooks_step(engine, keyring, config, ctx, clock())),
        ("reports", lambda ctx: reports_step(engine, config, ctx, keyring, clock())),
    ]


def import_step(
    engine: Engine, keyring: KeyRing, config: NightConfig, ctx: StepContext, now: datetime
) -> StepResult:
    if config.extracts is None:
        return StepResult(note="no extracts directory configured", skipped=True)
    directory = config.extracts / ctx.as_of.isoformat()
    if not directory.is_dir():
        return StepResult(note=f"no extract directory {directory}", skipped=True)
    try:
        report = import_directory(engine, keyring, directory)
    except ImportRejected as exc:  # where, not what: a cell may hold personal data
        first = exc.problems[0] if exc.problems else None
        at = f", the first at {first.file}:{first.line}: {first.column}" if first else ""
        raise NightStepFailed(
            f"the extracts in {directory} were rejected with "
            f"{len(exc.problems) + exc.omitted} problem(s){at}; nothing was imported. "
            f"`arrears import {directory} --dry-run` lists them"
        ) from exc
    counts = {
        name: {"inserted": c.inserted, "updated": c.updated, "skipped": c.skipped}
        for name, c in report.files.items()
    }
    with engine.begin() as conn:  # who loaded what, as `arrears import` records it
        audit.append(
            conn,
            keyring,
            actor=config.by,
            kind=audit.AuditKind.IMPORT,
            subject=f"import:{directory.name}",
            detail={"directory": str(directory), "files": counts},
            at=now,
        )
    rows = sum(c.inserted + c.updated for c in report.files.values())
    return StepResult(rows=rows, note=f"{len(report.files)} file(s) from {directory}")


def score_step(score: Callable[[date], StepResult] | None, ctx: StepContext) -> StepResult:
    """Every open case scored in one batch with the models approved for the date; skipped
    with a note when none is approved (or no scorer is wired)."""
    if score is None:
        return StepResult(note="no score batch wired: the day's plan reads no scores", skipped=True)
    return score(ctx.as_of)


def run_day_step(run_day: Callable[[date], RunReport], ctx: StepContext) -> StepResult:
    report = run_day(ctx.as_of)
    return StepResult(
        rows=report.accounts_changed,
        note=(
            f"{report.cases_opened} cases opened, {report.cases_closed} closed, "
            f"{report.actions_planned} actions, {report.messages_enqueued} messages"
        ),
    )


def _channels(config: NightConfig) -> tuple[ChannelSet, CommsConfig, dict[str, float]]:
    if config.channels is None:
        return ChannelSet(FileSink(config.outbox_dir)), CommsConfig(), {}
    spec = load_channels_file(config.channels)
    return spec.build(), spec.comms, spec.rate_limits


def dispatch_step(
    engine: Engine, keyring: KeyRing, config: NightConfig, ctx: StepContext, now: datetime
) -> StepResult:
    """Send what is due. Messages left to retry because a channel was unavailable fail the
    step (the operator hears of it); the resumed step sends them at once."""
    channel_set, comms, rates = _channels(config)
    comms.sign_links(keyring, today=lambda: ctx.as_of)
    if ctx.attempt > 1:
        _due_now(engine, now)
    dispatcher = Dispatcher(
        engine, keyring, channel_set, comms=comms, config=DispatchConfig(rate_limits=rates)
    )
    try:
        report = dispatcher.run_once(now)
    finally:
        channel_set.close()
    waiting, error = _retrying(engine)
    if waiting:
        raise NightStepFailed(
            f"{waiting} message(s) could not be sent and wait to be retried; last error: {error}"
        )
    return StepResult(
        rows=report.sent,
        note=f"sent {report.sent}, deferred {report.deferred}, blocked {report.blocked}, "
        f"dead {report.dead}",
    )


def _due_now(engine: Engine, now: datetime) -> None:
    """A resumed dispatch: the messages waiting out a back-off after a channel failed are due
    now (the operator says the channel is back)."""
    o = t.outbox
    with engine.begin() as conn:
        conn.execute(
            update(o)
            .where(o.c.status == "pending", o.c.error.isnot(None), o.c.not_before > now)
            .values(not_before=now)
        )


def _retrying(engine: Engine) -> tuple[int, str | None]:
    o = t.outbox
    waiting = (o.c.status == "pending") & o.c.error.isnot(None) & (o.c.attempts > 0)
    with engine.connect() as conn:
        count = int(conn.scalar(select(func.count()).where(waiting)) or 0)
        error = conn.scalar(select(o.c.error).where(waiting).order_by(o.c.id.desc()).limit(1))
    return count, error


def webhooks_step(
    engine: Engine, keyring: KeyRing, config: NightConfig, ctx: StepContext, now: datetime
) -> StepResult:
    with engine.begin() as conn:
        found = collect_events(conn, ctx.as_of)
    with httpx.Client() as client:
        report = deliver(engine, keyring, now, client, allow_private=config.webhook_allow_private)
    return StepResult(
        rows=report.delivered,
        note=f"{found} new events; delivered {report.delivered}, retrying {report.retried}, "
        f"failed {report.failed}",
    )


def reports_step(
    engine: Engine,
    config: NightConfig,
    ctx: StepContext,
    keyring: KeyRing | None = None,
    now: datetime | None = None,
) -> StepResult:
    """The cases and actions reports of the day (`arrears cases`, `arrears actions`), one JSON
    line per row, written to `reports/<date>/` when configured (counted only otherwise);
    streamed, in bounded memory. Then the scheduled reports due on the date are e-mailed
    through the channels file's SMTP channel (`services/report_schedules.py`); a recipient
    already sent the date's report is not sent it again, and a send that failed fails the
    step (the resumed step sends what is left)."""
    folder = None if config.reports is None else config.reports / ctx.as_of.isoformat()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    with engine.connect() as conn:
        for name, found in (
            ("cases", cases_as_of(conn, ctx.as_of)),
            ("actions", actions_as_of(conn, ctx.as_of)),
        ):
            rows += _write(found, None if folder is None else folder / f"{name}.jsonl")
    where = f", written to {folder}" if folder is not None else ""
    note = f"the cases and actions reports{where}"
    if keyring is not None:
        sent = send_due(
            engine,
            keyring,
            ctx.as_of,
            _report_channel(config),
            at=now or _now(),
            by=config.by,
        )
        if sent.failed:
            raise NightStepFailed(
                f"{len(sent.failed)} scheduled report e-mail(s) not sent "
                f"({sent.sent} sent); first: {sent.failed[0]}"
            )
        note += f"; scheduled reports: {sent.sent} e-mailed, {sent.already} sent before"
    return StepResult(rows=rows, note=note)


def _report_channel(config: NightConfig) -> Callable[[], Channel] | None:
    """The SMTP channel the scheduled reports go through: the one operations' alerts use
    (`email`, or the channels file's `operations.email_channel`), with no unsubscribe link."""
    alerts = load_alert_config(config.channels)
    spec = alerts.email_spec
    if spec is None or spec.get("kind") != "smtp":
        return None
    return lambda: build_adapter(alerts.email_channel, spec, alerts.comms or CommsConfig())


def _write(rows: Iterable[dict[str, Any]], path: Path | None) -> int:
    count = 0
    with contextlib.ExitStack() as stack:
        out = None if path is None else stack.enter_context(path.open("w", encoding="utf-8"))
        for row in rows:
            if out is not None:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
