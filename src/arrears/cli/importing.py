"""`arrears import DIR`: load host extracts (borrowers, contacts, accounts, due items, payments)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from arrears.cli import app_of
from arrears.observability.progress import progress
from arrears.privacy import audit
from arrears.services.importing import ImportRejected, import_directory


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_cmd(
        ctx: typer.Context,
        directory: Path = typer.Argument(
            ...,
            help="Directory holding any of borrowers.csv, contacts.csv, accounts.csv, "
            "due_items.csv, payments.csv (see docs/formats.md).",
        ),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Validate everything, write nothing."
        ),
        by: str = typer.Option("import", "--by", help="Who runs it (recorded in the audit log)."),
    ) -> None:
        """Import host extracts, all or nothing; every problem is listed as file:line: column.

        Examples:

          arrears import extracts/2026-03-02 --dry-run

          arrears import extracts/2026-03-02 --by host-feed
        """
        wired = app_of(ctx)
        try:
            with progress("import", unit="rows") as bar:
                report = import_directory(
                    wired.engine, wired.keyring, directory, dry_run=dry_run, on_batch=bar.on_batch
                )
        except ImportRejected as exc:
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
            more = f" ({exc.omitted} more not listed)" if exc.omitted else ""
            typer.echo(
                f"import rejected: {len(exc.problems) + exc.omitted} problem(s){more}; "
                "nothing was written",
                err=True,
            )
            raise typer.Exit(1) from None
        if not dry_run:  # who loaded what into the database, in the audit log
            counts = {
                name: {"inserted": c.inserted, "updated": c.updated, "skipped": c.skipped}
                for name, c in report.files.items()
            }
            with wired.engine.begin() as conn:
                audit.append(
                    conn,
                    wired.keyring,
                    actor=by,
                    kind=audit.AuditKind.IMPORT,
                    subject=f"import:{directory.name}",
                    detail={"directory": str(directory), "files": counts},
                    at=datetime.now(UTC),
                )
        typer.echo(str(report))
