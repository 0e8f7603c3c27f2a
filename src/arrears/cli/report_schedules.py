"""`arrears report schedule add|list|remove`: exports e-mailed by the nightly run
(docs/exports.md, "Scheduled reports"). Added to the `report` group of `cli/debt_sale.py`."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from arrears.cli import app_of
from arrears.privacy.masking import RevealRefused
from arrears.services import exports as ex
from arrears.services import report_schedules as svc

_ERRORS = (
    ex.ExportKindUnknown,
    ex.ExportFormatUnknown,
    ex.ExportRefused,
    svc.ScheduleInvalid,
    svc.ScheduleUnknown,
    RevealRefused,  # an unknown role
)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def add_schedule_commands(report: typer.Typer) -> None:
    schedule = typer.Typer(
        no_args_is_help=True, help="Reports e-mailed by the nightly run (daily or weekly)."
    )
    report.add_typer(schedule, name="schedule")

    @schedule.command("add")
    def add_cmd(
        ctx: typer.Context,
        kind: str = typer.Argument(..., help=f"The export: {', '.join(ex.ExportKind)}."),
        fmt: str = typer.Option("xlsx", "--format", help="csv or xlsx."),
        to: str = typer.Option(..., "--to", help="E-mail addresses, comma-separated."),
        every: str = typer.Option(
            ..., "--every", help="daily, or a weekday (monday …) for the week ending on it."
        ),
        role: str = typer.Option(
            ..., "--role", help="The role whose masking applies (one that sees it masked)."
        ),
        by: str = typer.Option(..., "--by", help="Who adds it (in the audit log)."),
    ) -> None:
        """E-mail an export after each night it is due, as an attachment."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                added = svc.add_schedule(
                    conn,
                    wired.keyring,
                    kind=kind,
                    fmt=fmt,
                    recipients=to,
                    every=every,
                    role=role,
                    by=by,
                    at=datetime.now(UTC),
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(
            f"schedule {added.id}: {added.kind} as {added.format}, {added.every}, to "
            f"{', '.join(added.recipients)}, masked for {added.role}"
        )

    @schedule.command("list")
    def list_cmd(ctx: typer.Context) -> None:
        """The schedules in force."""
        with app_of(ctx).engine.connect() as conn:
            found = svc.list_schedules(conn)
        if not found:
            typer.echo("no scheduled reports")
            return
        typer.echo("id  kind  format  every  role  to")
        for s in found:
            typer.echo(
                f"{s.id}  {s.kind}  {s.format}  {s.every}  {s.role}  {','.join(s.recipients)}"
            )

    @schedule.command("remove")
    def remove_cmd(
        ctx: typer.Context,
        schedule_id: int = typer.Argument(..., help="The schedule's id (see list)."),
        by: str = typer.Option(..., "--by", help="Who removes it (in the audit log)."),
    ) -> None:
        """Stop a schedule (what it sent stays recorded)."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                svc.remove_schedule(conn, wired.keyring, schedule_id, by=by, at=datetime.now(UTC))
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(f"schedule {schedule_id} removed")
