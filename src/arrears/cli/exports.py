"""`arrears export KIND`: one export (docs/exports.md) as CSV or XLSX, masked as the user's
role sees personal data, recorded in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from arrears.cli import app_of
from arrears.cli.run import parse_date
from arrears.services import exports as svc
from arrears.services.users import UserUnknown

_ERRORS = (
    svc.ExportKindUnknown,
    svc.ExportFormatUnknown,
    svc.ExportRefused,
    svc.ExportPeriodInvalid,
    svc.ExportUserInactive,
    UserUnknown,
)


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        ctx: typer.Context,
        kind: str = typer.Argument(..., help=f"What to export: {', '.join(svc.ExportKind)}."),
        as_of: str = typer.Option(..., "--as-of", help="Business date, YYYY-MM-DD."),
        start: str = typer.Option(
            None,
            "--from",
            help="First business date of a period export (default: --as-of, one day).",
        ),
        fmt: str = typer.Option("csv", "--format", help="csv or xlsx."),
        out: Path = typer.Option(..., "--out", help="The file to write (not overwritten)."),
        user: str = typer.Option(
            ..., "--as", help="Who exports: the user's role decides what is masked (audited)."
        ),
    ) -> None:
        """Write one export; personal data is in clear only for a role that may export it."""
        wired = app_of(ctx)
        part = out.with_name(f".{out.name}.part")  # the file appears whole or not at all
        try:
            kind_ = svc.parse_kind(kind)
            fmt_ = svc.parse_format(fmt)
            who = svc.user_of(wired.engine, user)
            role = svc.check_allowed(who.role, kind_)
            day, first = parse_date(as_of), parse_date(start) if start else None
            svc.period_of(kind_, day, first)
            if out.exists():
                raise FileExistsError(f"{out} exists; give a new file name")
            part.touch(mode=0o600)  # personal data may be in it: its owner reads it only
            with part.open("wb") as f:
                done = svc.run_export(
                    wired.engine,
                    wired.keyring,
                    kind=kind_,
                    fmt=fmt_,
                    as_of=day,
                    start=first,
                    actor=user,
                    role=role,
                    scope=svc.scope_of(wired.engine, who),
                    out=f,
                    at=datetime.now(UTC),
                )
            part.rename(out)
        except (*_ERRORS, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            part.unlink(missing_ok=True)  # gone once renamed; a failed export leaves nothing
        typer.echo(
            f"{done.rows} rows of {done.kind} ({done.period.start} to {done.period.end}) "
            f"written to {out}; personal data {done.personal}; audit entry {done.audit_seq}"
        )
