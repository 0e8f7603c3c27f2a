"""`arrears` — the command line. Each area registers its commands in its own module."""

from __future__ import annotations

import importlib
import pkgutil
import sqlite3
from collections.abc import Callable

import psycopg
import typer
from sqlalchemy.exc import DBAPIError

from arrears.bootstrap import App, bootstrap
from arrears.config import Settings
from arrears.services.schema import schema_problem


def build(on_bootstrap: Callable[[App], None] | None = None) -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

    @app.callback()
    def _root(
        ctx: typer.Context,
        database: str = typer.Option(
            None, "--database", help="Database URL (default $ARREARS_DATABASE_URL or sqlite)."
        ),
    ) -> None:
        ctx.obj = bootstrap(Settings.from_env(database))
        if on_bootstrap is not None:
            on_bootstrap(ctx.obj)

    # every module under arrears.cli that defines `register(app)` adds its commands
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"arrears.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(app)
    return app


def app_of(ctx: typer.Context) -> App:
    obj = ctx.obj
    assert isinstance(obj, App)
    return obj


def main() -> None:
    from arrears.privacy.keyring import KeyRingInvalid

    wired: list[App] = []
    try:
        build(wired.append)(standalone_mode=True)
    except (DBAPIError, sqlite3.Error, psycopg.Error):
        # a database never upgraded (or behind this version): say what to do, not a trace
        problem = schema_problem(wired[0].engine) if wired else None
        if problem is None:
            raise
        typer.echo(f"error: {problem}", err=True)
        raise SystemExit(2) from None
    except KeyRingInvalid as exc:  # a key ring that does not fit the database: say so, no trace
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
