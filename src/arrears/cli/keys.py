"""`arrears keys …`: make a new key ring deliberately, rotate the encryption key without
downtime, see which keys are in use, retire a key nothing uses any more."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from arrears.cli import app_of
from arrears.observability.progress import progress
from arrears.privacy import audit
from arrears.privacy.keycheck import init_key_ring
from arrears.privacy.keyring import KeyRingInvalid, KeyUnknown
from arrears.privacy.rotation import key_usage, rotate
from arrears.services.schema import upgrade_schema


def register(app: typer.Typer) -> None:
    cli = typer.Typer(no_args_is_help=True, help="Encryption keys of personal data.")
    app.add_typer(cli, name="keys")

    @cli.command("init")
    def init_cmd(
        ctx: typer.Context,
        force: bool = typer.Option(
            False, "--force", help="Even though the database holds data another ring made."
        ),
    ) -> None:
        """Make a new key ring at ARREARS_KEY_FILE (never over an existing one). Other commands
        make one by themselves only for an empty database."""
        wired = app_of(ctx)
        if wired.settings.keys_json:
            typer.echo("error: ARREARS_KEYS is set; unset it to use a key file", err=True)
            raise typer.Exit(2)
        try:
            ring = init_key_ring(wired.engine, wired.settings.key_file, force=force)
        except KeyRingInvalid as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(
            f"new key ring at {wired.settings.key_file.resolve()} (active key {ring.active})"
        )

    @cli.command("rotate")
    def rotate_cmd(
        ctx: typer.Context,
        batch: int = typer.Option(1000, "--batch", help="Rows per transaction."),
        resume: bool = typer.Option(False, "--resume", help="Finish an interrupted rotation."),
        by: str = typer.Option("admin", "--by"),
    ) -> None:
        """A new active key, then every `_enc` column of every table re-encrypted in batches."""
        wired = app_of(ctx)
        ring = wired.keyring
        if ring.source is None and not resume:
            typer.echo(
                "error: the key ring comes from ARREARS_KEYS; rotate with a key file "
                "(ARREARS_KEY_FILE) so the new key is saved before any data uses it",
                err=True,
            )
            raise typer.Exit(2)
        upgrade_schema(wired.engine)
        with progress("keys rotate", unit="rows") as bar:
            report = rotate(
                wired.engine, ring, batch_size=batch, new_key=not resume, progress=bar.on_batch
            )
        with wired.engine.begin() as conn:
            audit.append(
                conn,
                ring,
                actor=by,
                kind=audit.AuditKind.KEY_ROTATION,
                subject="keys",
                detail=report.as_dict(),
                at=datetime.now(UTC),
            )
        typer.echo(f"active key {report.key_id}; re-encrypted {report.values} values")
        for table, rows in sorted(report.rows.items()):
            typer.echo(f"  {table:<24} {rows} rows")

    @cli.command("status")
    def status_cmd(ctx: typer.Context) -> None:
        """Which key ids encrypt how many stored values."""
        wired = app_of(ctx)
        usage = key_usage(wired.engine, wired.keyring)
        typer.echo(f"active key {wired.keyring.active}")
        for kid in sorted(set(wired.keyring.keys) | set(usage)):
            typer.echo(f"  {kid:<12} {usage.get(kid, 0)} values")

    @cli.command("retire")
    def retire_cmd(ctx: typer.Context, key_id: str = typer.Argument(...)) -> None:
        """Remove an old key from the key file, once no value uses it."""
        wired = app_of(ctx)
        used = key_usage(wired.engine, wired.keyring).get(key_id, 0)
        if used:
            typer.echo(
                f"error: {used} values still use {key_id}; run `arrears keys rotate --resume`",
                err=True,
            )
            raise typer.Exit(2)
        try:
            wired.keyring.retire(key_id)
            wired.keyring.save()
        except (KeyRingInvalid, KeyUnknown) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"retired {key_id}")
