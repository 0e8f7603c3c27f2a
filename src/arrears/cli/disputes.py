"""`arrears disputes …`: the disputes waiting for verification, verify, withdraw, record."""

from __future__ import annotations

from datetime import UTC, date, datetime

import typer

from arrears.cli import app_of
from arrears.cli.run import parse_date
from arrears.services import disputes as svc


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


_ERRORS = (svc.DisputeNotFound, svc.DisputeClosed, svc.DisputeTargetUnknown, ValueError)


def register(app: typer.Typer) -> None:
    cli = typer.Typer(
        no_args_is_help=True, help="Disputes: collection waits until verified or withdrawn."
    )
    app.add_typer(cli, name="disputes")

    @cli.command("list")
    def list_cmd(
        ctx: typer.Context,
        status: str = typer.Option("open", "--status", help="open, verified, withdrawn, all"),
        owner: str = typer.Option(None, "--owner"),
        on: str = typer.Option(None, "--on", help="Business date for 'overdue' (today)."),
    ) -> None:
        """Disputes, the soonest due first."""
        day = parse_date(on) if on else date.today()
        with app_of(ctx).engine.connect() as conn:
            try:
                found = svc.list_disputes(
                    conn, status=None if status == "all" else status, owner=owner
                )
            except ValueError as exc:
                _fail(exc)
                return
        if not found:
            typer.echo("no disputes")
        for d in found:
            late = "  OVERDUE" if d.overdue(day) else ""
            typer.echo(
                f"{d.id}  borrower {d.borrower_id}  case {d.case_id or '-'}  {d.status}  "
                f"raised {d.raised_on} by {d.source}  owner {d.owner}  due {d.due_on}{late}"
            )

    @cli.command("record")
    def record_cmd(
        ctx: typer.Context,
        borrower: str = typer.Option(None, "--borrower"),
        case: int = typer.Option(None, "--case"),
        account: str = typer.Option(None, "--account"),
        on: str = typer.Option(..., "--on", help="Business date the dispute was raised."),
        by: str = typer.Option(..., "--by"),
        reason: str = typer.Option(None, "--reason"),
        owner: str = typer.Option(None, "--owner"),
    ) -> None:
        """Record a dispute (raised with the compliance officer): collection pauses."""
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            try:
                did = svc.record_dispute(
                    conn,
                    source=svc.DisputeSource.OFFICER,
                    on=parse_date(on),
                    by=by,
                    at=datetime.now(UTC),
                    borrower_id=borrower,
                    case_id=case,
                    account_id=account,
                    reason=reason,
                    owner=owner,
                    keyring=wired.keyring,
                )
            except _ERRORS as exc:
                _fail(exc)
                return
        typer.echo(f"dispute {did} recorded; collection paused until verified or withdrawn")

    def _resolve(ctx: typer.Context, dispute: int, on: str, by: str, note: str | None, how: str):  # type: ignore[no-untyped-def]
        wired = app_of(ctx)
        act = svc.verify_dispute if how == "verify" else svc.withdraw_dispute
        with wired.engine.begin() as conn:
            try:
                d = act(
                    conn,
                    dispute,
                    on=parse_date(on),
                    by=by,
                    at=datetime.now(UTC),
                    note=note,
                    keyring=wired.keyring,
                )
            except _ERRORS as exc:
                _fail(exc)
                return
        typer.echo(f"dispute {d.id} {d.status}; collection of borrower {d.borrower_id} resumes")

    @cli.command("verify")
    def verify_cmd(
        ctx: typer.Context,
        dispute: int = typer.Argument(...),
        on: str = typer.Option(..., "--on"),
        by: str = typer.Option(..., "--by"),
        note: str = typer.Option(None, "--note", help="What verified it, what was sent."),
    ) -> None:
        """The debt is verified: collection resumes at the next run."""
        _resolve(ctx, dispute, on, by, note, "verify")

    @cli.command("withdraw")
    def withdraw_cmd(
        ctx: typer.Context,
        dispute: int = typer.Argument(...),
        on: str = typer.Option(..., "--on"),
        by: str = typer.Option(..., "--by"),
        note: str = typer.Option(None, "--note"),
    ) -> None:
        """The borrower withdrew the dispute: collection resumes at the next run."""
        _resolve(ctx, dispute, on, by, note, "withdraw")
