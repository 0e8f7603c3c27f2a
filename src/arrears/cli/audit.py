"""`arrears audit …`: verify the hash chain of the audit log (and its anchor outside the
database); re-anchor after a restore; list recent entries."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from arrears.cli import app_of
from arrears.privacy.audit import anchored_at, entries, reanchor, verify


def register(app: typer.Typer) -> None:
    cli = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
    app.add_typer(cli, name="audit")

    @cli.command("verify")
    def verify_cmd(ctx: typer.Context) -> None:
        """Recompute the chain; name every edited or deleted entry, and entries deleted from the
        end (checked against the signed anchor beside the key ring); exit 1 if any."""
        wired = app_of(ctx)
        with wired.engine.connect() as conn:
            breaks = verify(conn, wired.keyring)
            count = len(entries(conn, limit=1))
            anchors = anchored_at(conn, wired.keyring)
        if not breaks:
            typer.echo("audit log intact" + ("" if count else " (empty)"))
            if not anchors:
                typer.echo(
                    "note: the log is not anchored outside the database (the key ring comes "
                    "from ARREARS_KEYS and ARREARS_AUDIT_ANCHOR_DIR is not set): entries "
                    "deleted from the end cannot be detected",
                    err=True,
                )
            return
        for b in breaks:
            typer.echo(f"TAMPERED {b}")
        raise typer.Exit(1)

    @cli.command("anchor")
    def anchor_cmd(
        ctx: typer.Context,
        reason: str = typer.Option(..., "--reason", help="Why (e.g. 'restored from backup')."),
        by: str = typer.Option("admin", "--by"),
    ) -> None:
        """Accept the log as it is now: sign its last entry into the anchor files. Only after a
        restore from backup, or the first time after an upgrade, once the chain verifies."""
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            anchors = anchored_at(conn, wired.keyring)
            if not anchors:
                typer.echo(
                    "error: nowhere to anchor: use a key file (ARREARS_KEY_FILE) or set "
                    "ARREARS_AUDIT_ANCHOR_DIR",
                    err=True,
                )
                raise typer.Exit(2)
            seq = reanchor(conn, wired.keyring, by=by, reason=reason, at=datetime.now(UTC))
        typer.echo(f"anchored the audit log at entry {seq} in {', '.join(anchors)}")

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
