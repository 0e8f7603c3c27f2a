from __future__ import annotations

import typer

from arrears.cli import app_of
from arrears.services.schema import upgrade_schema


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("upgrade")
    def upgrade(ctx: typer.Context, revision: str = "head") -> None:
        """Bring the schema up to REVISION (default: the newest)."""
        upgrade_schema(app_of(ctx).engine, revision)
        typer.echo(f"schema at {revision}")
