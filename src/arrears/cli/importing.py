"""`arrears import DIR`: load host extracts (borrowers, contacts, accounts, due items, payments)."""

from __future__ import annotations

from pathlib import Path

import typer

from arrears.cli import app_of
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
    ) -> None:
        """Import host extracts, all or nothing; every problem is listed as file:line: column."""
        wired = app_of(ctx)
        try:
            report = import_directory(wired.engine, wired.keyring, directory, dry_run=dry_run)
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
        typer.echo(str(report))
