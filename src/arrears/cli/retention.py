"""`arrears retention run --as-of D`: anonymise borrowers past the rule pack's retention period;
`arrears retention recordings --as-of D`: delete call recordings past it."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from arrears.cli import app_of
from arrears.cli.run import parse_date
from arrears.compliance.rules.packs import get_pack
from arrears.observability.progress import progress
from arrears.services.retention import cutoff_for, due_for_anonymising, run_retention


def register(app: typer.Typer) -> None:
    cli = typer.Typer(no_args_is_help=True, help="Retention of personal data.")
    app.add_typer(cli, name="retention")

    @cli.command("run")
    def run_cmd(
        ctx: typer.Context,
        as_of: str = typer.Option(..., "--as-of"),
        pack: str = typer.Option(None, "--pack", help="Default: the configured rule pack."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only count."),
        by: str = typer.Option("retention", "--by"),
    ) -> None:
        """Anonymise personal data of borrowers whose last case closed before the period."""
        wired = app_of(ctx)
        code = pack or wired.settings.rule_pack
        years = get_pack(code).retention_years
        day = parse_date(as_of)
        with wired.engine.begin() as conn:
            if dry_run:
                n = len(due_for_anonymising(conn, day, years))
                typer.echo(
                    f"{n} borrowers closed before {cutoff_for(day, years)} ({code}: {years} years)"
                )
                return
            with progress("retention", unit="rows") as bar:
                report = run_retention(
                    conn,
                    wired.keyring,
                    as_of=day,
                    rule_pack=code,
                    by=by,
                    at=datetime.now(UTC),
                    on_step=bar.on_batch,
                )
        typer.echo(
            f"anonymised {report.borrowers} borrowers and {report.contacts} contacts whose last "
            f"case closed before {report.cutoff} ({code}: {years} years); figures kept"
        )

    @cli.command("recordings")
    def recordings_cmd(
        ctx: typer.Context,
        as_of: str = typer.Option(..., "--as-of"),
        pack: str = typer.Option(None, "--pack", help="Default: the configured rule pack."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only count."),
    ) -> None:
        """Delete call recordings of days before the rule pack's retention period."""
        from arrears.services.calls import purge_recordings

        wired = app_of(ctx)
        code = pack or wired.settings.rule_pack
        years = get_pack(code).retention_years
        report = purge_recordings(
            wired.engine,
            wired.keyring,
            wired.recordings,
            as_of=parse_date(as_of),
            years=years,
            dry_run=dry_run,
        )
        verb = "would delete" if dry_run else "deleted"
        typer.echo(
            f"{verb} {report.deleted} call recordings of calls before {report.cutoff} "
            f"({code}: {years} years); the calls keep their SHA-256"
        )
