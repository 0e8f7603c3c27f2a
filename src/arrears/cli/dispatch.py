"""`arrears dispatch`: send the outbox through the configured channels."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import typer

from arrears.channels.base import ChannelConfigInvalid, ChannelSet
from arrears.channels.config import (
    ChannelsFile,
    CommsConfig,
    load_channels_file,
)
from arrears.channels.filesink import FileSink
from arrears.cli import app_of
from arrears.engine.run_day import last_business_date
from arrears.services.dispatch import (
    DispatchConfig,
    Dispatcher,
    DispatchReport,
    resolve_unknown,
    unknown_messages,
)


def _channels(
    path: Path | None, fallback_dir: Path
) -> tuple[ChannelSet, CommsConfig, dict[str, float]]:
    candidate = path or (
        Path(os.environ["ARREARS_CHANNELS"]) if "ARREARS_CHANNELS" in os.environ else None
    )
    if candidate is None and Path("channels.yaml").exists():
        candidate = Path("channels.yaml")
    if candidate is None:
        return ChannelSet(FileSink(fallback_dir)), CommsConfig(), {}
    spec: ChannelsFile = load_channels_file(candidate)
    return spec.build(), spec.comms, spec.rate_limits


def register(app: typer.Typer) -> None:
    @app.command("dispatch")
    def dispatch(
        ctx: typer.Context,
        channels: Path = typer.Option(
            None,
            "--channels",
            help="Channels file (default $ARREARS_CHANNELS, ./channels.yaml, "
            "else a file sink in $ARREARS_OUTBOX_DIR).",
        ),
        once: bool = typer.Option(False, "--once", help="Send what is due now, then exit (cron)."),
        limit: int = typer.Option(None, "--limit", help="Send at most this many messages."),
        batch: int = typer.Option(250, "--batch", help="Messages claimed per transaction."),
        lease: float = typer.Option(
            300,
            "--lease",
            help="Seconds a claim is held before a dead worker's rows are recovered.",
        ),
        idle: float = typer.Option(5.0, "--idle", help="Seconds to wait when nothing is due."),
        progress: bool = typer.Option(
            None, "--progress/--no-progress", help="Progress bar (default: when on a terminal)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Claim due outbox rows, re-check the compliance gate, send, record. SIGTERM stops
        after the batch in hand.

        Examples:

          arrears dispatch --once --channels channels.yaml

          arrears --log-json dispatch --channels channels.yaml --batch 500
        """
        a = app_of(ctx)
        try:
            channel_set, comms, rates = _channels(channels, a.settings.outbox_dir)
        except ChannelConfigInvalid as exc:
            typer.echo(f"channels file: {exc}", err=True)
            raise typer.Exit(2) from None
        # the borrower page's links, made with the key ring the web app reads; a link works
        # LINK_DAYS from the business date the page counts by (the last daily run's)
        link_day = [datetime.now(UTC).date()]
        comms.sign_links(a.keyring, today=lambda: link_day[0])
        config = DispatchConfig(batch_size=batch, lease=timedelta(seconds=lease), rate_limits=rates)
        dispatcher = Dispatcher(a.engine, a.keyring, channel_set, comms=comms, config=config)
        stopping = {"flag": False}

        def _stop(signum: int, frame: FrameType | None) -> None:
            stopping["flag"] = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        show = sys.stderr.isatty() if progress is None else progress
        bar = None
        if show:
            from tqdm import tqdm

            bar = tqdm(unit="msg", desc="dispatch", total=limit)
        total = DispatchReport()
        try:
            while not stopping["flag"]:
                left = None if limit is None else limit - total.claimed
                if left is not None and left <= 0:
                    break
                now = datetime.now(UTC)
                with a.engine.connect() as conn:
                    link_day[0] = last_business_date(conn) or now.date()
                report = dispatcher.run_once(
                    now,
                    left,
                    should_stop=lambda: stopping["flag"],
                    on_progress=bar.update if bar is not None else None,
                )
                _merge(total, report)
                if once:
                    break
                if report.claimed == 0:
                    deadline = time.monotonic() + idle
                    while time.monotonic() < deadline and not stopping["flag"]:
                        time.sleep(0.2)
        finally:
            if bar is not None:
                bar.close()
            channel_set.close()
        if as_json:
            typer.echo(json.dumps(total.as_dict(), ensure_ascii=False))
        else:
            typer.echo(
                f"sent {total.sent} ({total.segments} segments), deferred {total.deferred}, "
                f"blocked {total.blocked}, retrying {total.retried}, dead {total.dead}, "
                f"unknown {total.recovered_unknown}, receipts {total.receipts}, "
                f"opt-outs {total.opt_outs}"
            )

    @app.command("dispatch-review")
    def review(
        ctx: typer.Context,
        resolve: int = typer.Option(None, "--resolve", help="Outbox id to resolve."),
        resend: bool = typer.Option(
            False, "--resend/--treat-as-sent", help="With --resolve: send again, or mark sent."
        ),
        by: str = typer.Option(os.environ.get("USER", "operator"), "--by"),
    ) -> None:
        """Messages whose fate is unknown after a crash; resolve one by one."""
        a = app_of(ctx)
        if resolve is not None:
            with a.engine.begin() as conn:
                resolve_unknown(conn, resolve, resend=resend, by=by)
            typer.echo(f"message {resolve}: {'queued again' if resend else 'marked sent'}")
            return
        with a.engine.connect() as conn:
            rows = unknown_messages(conn)
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False, default=str))
        typer.echo(f"{len(rows)} message(s) to review", err=True)


def _merge(total: DispatchReport, part: DispatchReport) -> None:
    for key, value in part.__dict__.items():
        current = getattr(total, key)
        if isinstance(value, int):
            setattr(total, key, current + value)
        else:
            current.update(value)
