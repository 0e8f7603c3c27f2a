"""`arrears nightly`: the night as one command — import, score, run-day, dispatch, webhooks,
reports — for one date or every missed date, under one lock, resumable, alerting operations when it
fails (docs/operations.md). `arrears nights` lists what the last nights did."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo

import typer

from arrears.bootstrap import App
from arrears.cli import app_of
from arrears.cli.run import parse_date
from arrears.services.night_alerts import load_alert_config, send_alerts
from arrears.services.night_steps import NightConfig, standard_steps
from arrears.services.nightly import (
    NightFailed,
    NightLockHeld,
    break_lock,
    dates_to_run,
    held_lock,
    lock_holder,
    night_steps_of,
    recent_nights,
    run_night,
)

EXIT_FAILED = 1
EXIT_LOCKED = 3


def _env_path(value: Path | None, env: str, default: Path | None = None) -> Path | None:
    if value is not None:
        return value
    if os.environ.get(env):
        return Path(os.environ[env])
    return default if default is not None and default.exists() else None


def night_config(
    wired: App,
    *,
    extracts: Path | None = None,
    channels: Path | None = None,
    reports: Path | None = None,
    by: str = "nightly",
) -> NightConfig:
    """Options first, then $ARREARS_EXTRACTS_DIR, $ARREARS_CHANNELS (or ./channels.yaml),
    $ARREARS_REPORTS_DIR."""
    return NightConfig(
        extracts=_env_path(extracts, "ARREARS_EXTRACTS_DIR"),
        channels=_env_path(channels, "ARREARS_CHANNELS", Path("channels.yaml")),
        outbox_dir=wired.settings.outbox_dir,
        reports=_env_path(reports, "ARREARS_REPORTS_DIR"),
        webhook_allow_private=wired.settings.webhook_allow_private,
        by=by,
    )


def run_nightly(
    wired: App,
    config: NightConfig,
    *,
    as_of: date | None = None,
    through: date | None = None,
    wait: float = 0.0,
    resume: str,
    echo: Callable[[str], None],
) -> int:
    """Run the nights asked for under the lock; the exit code (0 done, 1 failed, 3 locked)."""
    from arrears.lab.models import nightly_scorer  # scikit-learn loads only for a night

    engine = wired.engine
    steps = standard_steps(
        engine,
        wired.keyring,
        lambda day: wired.run_day(day, by=config.by),
        config,
        score=nightly_scorer(engine),
    )
    try:
        with held_lock(engine, lock_holder(config.by), wait=wait):
            days = [as_of] if as_of is not None else dates_to_run(engine, _given(through))
            if not days:
                echo(f"nothing to run: every night through {through} has finished")
            for day in days:
                outcome = run_night(engine, day, steps, by=config.by, resume=resume)
                if outcome.already_finished:
                    echo(f"{day}: already finished")
                    continue
                kept = f" (kept from before: {', '.join(outcome.kept)})" if outcome.kept else ""
                echo(f"{day}: finished {', '.join(outcome.ran)}{kept}")
    except NightLockHeld as exc:
        echo(f"error: {exc}")
        return EXIT_LOCKED
    except NightFailed as exc:
        echo(f"error: {exc}")
        _alert(wired, config, exc, echo)
        return EXIT_FAILED
    return 0


def _given(day: date | None) -> date:
    if day is None:
        raise ValueError("give a business date to run through")
    return day


def _alert(
    wired: App, config: NightConfig, failure: NightFailed, echo: Callable[[str], None]
) -> None:
    try:
        alerts = load_alert_config(config.channels)
    except Exception as exc:  # a channels file that cannot be read must not hide the failure
        echo(f"no alert sent: the channels file's operations section: {exc}")
        return
    for line in send_alerts(
        failure,
        alerts,
        now=datetime.now(UTC),
        allow_private=wired.settings.webhook_allow_private,
    ):
        echo(line)


def _resume_command(
    as_of: str | None, through: str | None, given: Mapping[str, Path | None]
) -> str:
    words = ["arrears", "nightly"]
    words += ["--as-of", str(as_of)] if as_of else ["--through", str(through)]
    for flag, value in given.items():
        if value is not None:
            words += [flag, str(value)]
    return " ".join(words)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def register(app: typer.Typer) -> None:
    @app.command("nightly")
    def nightly_cmd(
        ctx: typer.Context,
        as_of: str = typer.Option(None, "--as-of", help="Run (or resume) this business date."),
        through: str = typer.Option(
            None,
            "--through",
            metavar="DATE",
            help="Calendar mode: every business date since the last finished night, in order, "
            "through this one.",
        ),
        extracts: Path = typer.Option(
            None,
            "--extracts",
            help="Directory of one extract directory per date, <DIR>/YYYY-MM-DD/ "
            "(default $ARREARS_EXTRACTS_DIR; none: the import step is skipped).",
        ),
        channels: Path = typer.Option(
            None,
            "--channels",
            help="Channels file, also naming where alerts go (default $ARREARS_CHANNELS, "
            "./channels.yaml, else a file sink).",
        ),
        reports: Path = typer.Option(
            None, "--reports", help="Where the day's reports go (default $ARREARS_REPORTS_DIR)."
        ),
        wait: float = typer.Option(
            0, "--wait", help="Seconds to wait for another night to finish before refusing."
        ),
        break_stale: bool = typer.Option(
            False,
            "--break-lock",
            help="Remove the lock of a night that died (its process is gone), then stop.",
        ),
        by: str = typer.Option("nightly", "--by", help="Who runs it (recorded with the night)."),
    ) -> None:
        """The nightly run as one command: import, run-day, dispatch, webhooks, reports."""
        wired = app_of(ctx)
        if break_stale:
            held = break_lock(wired.engine)
            typer.echo(
                f"lock broken: it was held by {held[0]} since {held[1]}" if held else "no lock held"
            )
            return
        if (as_of is None) == (through is None):
            raise typer.BadParameter("give either --as-of DATE or --through DATE")
        day = parse_date(as_of) if as_of else None
        last = parse_date(through) if through else None
        given = {"--extracts": extracts, "--channels": channels, "--reports": reports}
        config = night_config(wired, extracts=extracts, channels=channels, reports=reports, by=by)
        # SIGTERM (systemd stopping the unit) stops like Ctrl-C: the step in hand rolls back and
        # stays "running", the lock is let go, and the next run resumes that step
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            code = run_nightly(
                wired,
                config,
                as_of=day,
                through=last,
                wait=wait,
                resume=_resume_command(as_of, through, given),
                echo=lambda line: typer.echo(line, err=line.startswith(("error", "alert", "no "))),
            )
        finally:
            signal.signal(signal.SIGTERM, previous)
        raise typer.Exit(code)

    @app.command("nights")
    def nights_cmd(
        ctx: typer.Context,
        as_of: str = typer.Option(None, "--as-of", help="The steps of this night."),
    ) -> None:
        """The last nights (date, status, failed step), or the steps of one night."""
        engine = app_of(ctx).engine
        if as_of:
            for s in night_steps_of(engine, parse_date(as_of)):
                typer.echo(
                    f"{s['step']:<10} {s['status']:<9} {s['seconds'] or 0:>8}s "
                    f"rows {s['rows'] or 0:<8} tries {s['attempts']}  "
                    f"{s['note'] or s['error'] or ''}"
                )
            return
        for n in recent_nights(engine):
            failed = f" at {n['failed_step']}: {n['error']}" if n["failed_step"] else ""
            typer.echo(f"{n['business_date']}  {n['status']:<9} runs {n['runs']}{failed}")


# --- a schedule for a single-box install (`arrears serve --nightly-at 02:00`) -------------------


def parse_time_of_day(text: str) -> time:
    try:
        return datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a time of day; write HH:MM") from None


def next_run(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The next moment the clock in `zone` shows `at`, after `now`."""
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate


def _utc_now() -> datetime:
    return datetime.now(UTC)


def start_scheduler(
    wired: App, at: time, stop: threading.Event, *, clock: Callable[[], datetime] = _utc_now
) -> threading.Thread:
    """A daemon thread that runs the nights at `at` (the lender's time zone) every day, through
    the business date before that day; a night already running elsewhere is left to finish."""
    zone = ZoneInfo(wired.settings.timezone)

    def loop() -> None:
        while not stop.is_set():
            fire = next_run(clock(), at, zone)
            if stop.wait((fire - clock()).total_seconds()):
                return
            through = fire.date() - timedelta(days=1)
            try:
                run_nightly(
                    wired,
                    night_config(wired, by="scheduler"),
                    through=through,
                    resume=_resume_command(None, through.isoformat(), {}),
                    echo=lambda line: typer.echo(f"nightly: {line}", err=True),
                )
            except Exception as exc:  # the server keeps serving; the next night tries again
                typer.echo(f"nightly: error: {type(exc).__name__}: {exc}", err=True)

    thread = threading.Thread(target=loop, name="nightly-scheduler", daemon=True)
    thread.start()
    return thread
