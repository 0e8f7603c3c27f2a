"""`arrears backup create|verify`: the database with its key ring, and a restore that proves it
(docs/operations.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from arrears.cli import app_of
from arrears.services.backup import BackupProblem, create_backup, verify_backup


def register(app: typer.Typer) -> None:
    backup = typer.Typer(help="Back the database and its key ring up; verify a backup.")
    app.add_typer(backup, name="backup", no_args_is_help=True)

    @backup.command("create")
    def create(
        ctx: typer.Context,
        out: Path = typer.Option(..., "--out", help="A new (or empty) directory for the backup."),
    ) -> None:
        """SQLite online backup or pg_dump of one snapshot, a copy of the key ring, a manifest."""
        wired = app_of(ctx)
        try:
            manifest = create_backup(wired.engine, wired.keyring, out, now=datetime.now(UTC))
        except BackupProblem as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(
            f"backed up {sum(manifest.rows.values())} rows of {len(manifest.rows)} tables "
            f"(schema {manifest.revision}) and the key ring to {out}; keep {out / 'keys.json'} "
            "apart from the data"
        )

    @backup.command("verify")
    def verify(
        ctx: typer.Context,
        path: Path = typer.Argument(..., help="The backup directory (or a file in it)."),
        keys: Path = typer.Option(
            None, "--keys", help="The key file to check against (default: the backup's copy)."
        ),
        scratch_url: str = typer.Option(
            None,
            "--scratch-url",
            help="PostgreSQL server to restore on (a scratch database is created there and "
            "dropped; default: the --database server).",
        ),
    ) -> None:
        """Restore into a scratch database; check schema head, row counts and decryption."""
        settings = app_of(ctx).settings
        try:
            report = verify_backup(
                path, keys=keys, scratch_url=scratch_url or settings.database_url
            )
        except BackupProblem as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        upgraded = f" (upgraded from {report.revision})" if report.upgraded else ""
        typer.echo(
            f"backup verified: schema at {report.head}{upgraded}, {report.rows} rows in "
            f"{report.tables} tables as the manifest says, {report.decrypted} encrypted values "
            "open with the key ring"
        )
