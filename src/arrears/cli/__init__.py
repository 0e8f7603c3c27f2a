"""`arrears` — the command line. Each area registers its commands in its own module."""

from __future__ import annotations

import importlib

import typer

from arrears.bootstrap import App, bootstrap
from arrears.config import Settings

# Modules under arrears.cli that define `register(app)`; add yours here.
COMMAND_MODULES = ["db", "importing", "run", "demo"]


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

    @app.callback()
    def _root(
        ctx: typer.Context,
        database: str = typer.Option(
            None, "--database", help="Database URL (default $ARREARS_DATABASE_URL or sqlite)."
        ),
    ) -> None:
        ctx.obj = bootstrap(Settings.from_env(database))

    for name in COMMAND_MODULES:
        importlib.import_module(f"arrears.cli.{name}").register(app)
    return app


def app_of(ctx: typer.Context) -> App:
    obj = ctx.obj
    assert isinstance(obj, App)
    return obj


def main() -> None:
    build()()
