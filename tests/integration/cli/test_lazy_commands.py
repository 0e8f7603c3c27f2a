"""The command line imports only the module of the command that runs, and still lists all."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import typer
from typer.main import get_group
from typer.testing import CliRunner

import arrears.cli
from arrears.cli import build


def _every_command() -> set[str]:
    """What the modules register when all are imported eagerly (the way it used to be)."""
    app = typer.Typer()
    app.callback()(lambda: None)
    for info in pkgutil.iter_modules(arrears.cli.__path__):
        module = importlib.import_module(f"arrears.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(app)
    return set(get_group(app).commands)


def test_help_lists_every_command_of_every_module() -> None:
    out = CliRunner().invoke(build(), ["--help"], terminal_width=200)
    assert out.exit_code == 0, out.output
    listed = {line.split()[1] for line in out.output.splitlines() if line.startswith("│ ")}
    every = _every_command()
    assert {"run-day", "serve", "dispatch", "audit"} <= every
    assert every <= listed


def test_run_day_imports_neither_the_web_nor_the_other_commands() -> None:
    probe = (
        "import sys\n"
        "sys.argv = ['arrears', 'run-day', '--help']\n"
        "from arrears.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('arrears.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = out.stdout.split("LOADED", 1)[1]
    assert "'arrears.cli.run'" in loaded
    for other in ("arrears.cli.serve", "arrears.cli.demo", "arrears.web", "arrears.api"):
        assert f"'{other}" not in loaded, other


def test_a_group_command_runs_after_lazy_loading() -> None:
    out = CliRunner().invoke(build(), ["audit", "--help"])
    assert out.exit_code == 0, out.output
    assert "verify" in out.output
    unknown = CliRunner().invoke(build(), ["no-such-command"])
    assert unknown.exit_code != 0
