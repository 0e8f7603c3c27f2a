"""`arrears audit …`: verify the hash chain of the audit log; list recent entries."""

from __future__ import annotations

import typer

from arrears.cli import app_of
from arrears.privacy.audit import entries, verify


def register(app: typer.Typer) -> None:
    cli = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
    app.add_typer(cli, name="audit")

    @cli.command("verify")
    def verify_cmd(ctx: typer.Context) -> None:
        """Recompute the chain; name every edited or deleted entry (exit 1 if any)."""
        wired = app_of(ctx)
        with wired.engine.connect() as conn:
            breaks = verify(conn, wired.keyring)
            count = len(entries(conn, limit=1))
        if not breaks:
            typer.echo("audit log intact" + ("" if count else " (empty)"))
            return
        for b in breaks:
            typer.echo(f"TAMPERED {b}")
        raise typer.Exit(1)

    @cli.command("list")
    def list_cmd(
        ctx: typer.Context,
        kind: str = typer.Option(None, "--kind", help="reveal, export, override, rule_pack, …"),
        limit: int = typer.Option(20, "--limit"),
    ) -> None:
        """The latest entries, newest first."""
        with app_of(ctx).engine.connect() as conn:
            for e in entries(conn, kind, limit):
                head = f"{e['seq']:>6} {e['at']} {e['actor']:<12} {e['kind']:<12}"
                typer.echo(f"{head} {e['subject']} {e['detail']}")
