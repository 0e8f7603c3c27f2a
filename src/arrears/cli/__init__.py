"""`arrears` — the command line. Each area registers its commands in its own module.

Only the module of the command that runs is imported (`arrears run-day` does not load the web,
the channels or the dialler); `arrears --help` imports them all to list every command."""

from __future__ import annotations

import gc
import importlib
import pkgutil
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer import _click as tc  # the click typer vendors: the types of its groups
from typer.core import TyperGroup

from arrears.cli.readable import name_values, readable

if TYPE_CHECKING:  # the wiring (engine, rule packs, the run) loads when a command runs
    from arrears.bootstrap import App

_HELP = (__doc__ or "").split("\n\n")[0]
# how a module names its commands: @app.command("name") or app.add_typer(x, name="name")
_NAMED = re.compile(
    r"""@app\.command\(\s*["']([\w-]+)["']|app\.add_typer\([^)]*name=["']([\w-]+)["']"""
)


@cache
def _modules() -> tuple[str, ...]:
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)))


@cache
def _module_of() -> dict[str, str]:
    """Command name -> the module that registers it, read from the modules' text (no import)."""
    found: dict[str, str] = {}
    for name in _modules():
        source = (Path(__file__).parent / f"{name}.py").read_text(encoding="utf-8")
        for command, group in _NAMED.findall(source):
            found.setdefault(command or group, name)
    return found


class _LazyGroup(TyperGroup):
    """The root group: a command's module is imported when the command is asked for."""

    def __init__(self, **attrs: object) -> None:
        super().__init__(**attrs)  # type: ignore[arg-type]
        self.loaded: set[str] = set()

    def _load(self, module_name: str) -> None:
        if module_name in self.loaded:
            return
        self.loaded.add(module_name)
        module = importlib.import_module(f"arrears.cli.{module_name}")
        if not hasattr(module, "register"):
            return
        area = typer.Typer(add_completion=False)
        module.register(area)
        area.callback()(lambda: None)  # a group even when the module adds one command
        for name, command in typer.main.get_group(area).commands.items():
            self.commands.setdefault(name, readable(command))

    def get_params(self, ctx: tc.Context) -> list[tc.Parameter]:
        return name_values(super().get_params(ctx))  # the root's own, completion's too

    def _load_all(self) -> None:
        for name in _modules():
            self._load(name)

    def list_commands(self, ctx: tc.Context) -> list[str]:
        self._load_all()  # single commands first, then the groups, as typer lists them
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: isinstance(self.commands[n], TyperGroup))

    def get_command(self, ctx: tc.Context, cmd_name: str) -> tc.Command | None:
        if cmd_name not in self.commands:
            module = _module_of().get(cmd_name)
            if module is not None:
                self._load(module)
            if cmd_name not in self.commands:  # named some other way: look everywhere
                self._load_all()
        return super().get_command(ctx, cmd_name)


def build(on_bootstrap: Callable[[App], None] | None = None) -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, add_completion=True, help=_HELP, cls=_LazyGroup)

    @app.callback()
    def _root(
        ctx: typer.Context,
        database: str = typer.Option(
            None,
            "--database",
            metavar="URL",
            help="Database URL (default $ARREARS_DATABASE_URL or sqlite).",
        ),
        log_json: bool = typer.Option(
            None,
            "--log-json/--log-plain",
            help="Log events as JSON lines on stderr (default: $ARREARS_LOG_FORMAT=json).",
        ),
    ) -> None:
        from arrears.bootstrap import bootstrap
        from arrears.config import Settings
        from arrears.observability import logs

        logs.configure(logs.wanted(log_json))
        ctx.obj = bootstrap(Settings.from_env(database))
        if on_bootstrap is not None:
            on_bootstrap(ctx.obj)

    return app


def app_of(ctx: typer.Context) -> App:
    from arrears.bootstrap import App

    obj = ctx.obj
    assert isinstance(obj, App)
    return obj


def main() -> None:
    # Starting up (imports, the command's module, the wiring) makes objects that live as long as
    # the process: the collector does not sweep them over and over while they are made, and
    # once wired they are set aside (`gc.freeze`) so the command's own collections skip them.
    collecting = gc.isenabled()
    gc.disable()
    wired: list[App] = []

    def wire(app: App) -> None:
        wired.append(app)
        gc.freeze()
        if collecting:
            gc.enable()

    try:
        build(wire)(standalone_mode=True)
    except Exception as exc:
        if _database_error(exc):
            # a database never upgraded (or behind this version): say what to do, not a trace
            from arrears.services.schema import schema_problem

            problem = schema_problem(wired[0].engine) if wired else None
            if problem is None:
                raise
            typer.echo(f"error: {problem}", err=True)
            raise SystemExit(2) from None
        from arrears.privacy.keyring import KeyRingInvalid

        if isinstance(exc, KeyRingInvalid):  # a key ring that does not fit the database
            typer.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
        raise
    finally:
        if collecting:
            gc.enable()


def _database_error(exc: Exception) -> bool:
    """An error of the database or its driver (SQLAlchemy's, sqlite3's, psycopg's). A driver
    never loaded raised nothing: only the modules already imported are asked."""
    kinds = tuple(
        getattr(sys.modules[name], attr)
        for name, attr in (
            ("sqlalchemy.exc", "DBAPIError"),
            ("sqlite3", "Error"),
            ("psycopg", "Error"),
        )
        if name in sys.modules
    )
    return isinstance(exc, kinds)
