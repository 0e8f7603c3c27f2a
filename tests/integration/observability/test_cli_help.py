"""Every command's help names values as users read them (DATE, PATH, INTEGER, TEXT), never
typer's `<str>` or `<bool>`; the main commands show examples; shell completion is offered."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from arrears.cli import build

RAW_TYPE = re.compile(r"<(str|bool|int|float|path|file|directory|datetime|uuid|list\[|\w+ range)")
ARREARS = Path(sys.executable).with_name("arrears")


def _paths() -> list[list[str]]:
    """The command path of every command and group, root first."""
    root = typer.main.get_command(build())
    found: list[list[str]] = [[]]

    def walk(group: object, path: list[str]) -> None:
        ctx = typer.Context(group)  # type: ignore[arg-type]
        for name in group.list_commands(ctx):  # type: ignore[attr-defined]
            command = group.get_command(ctx, name)  # type: ignore[attr-defined]
            found.append([*path, name])
            if hasattr(command, "list_commands"):
                walk(command, [*path, name])

    walk(root, [])
    return found


PATHS = _paths()


def _help(path: list[str]) -> str:
    result = CliRunner().invoke(build(), [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_walked() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {"run-day", "import", "dispatch", "serve", "demo", "db upgrade", "keys rotate"} <= names
    assert len(PATHS) > 40


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "arrears")
def test_help_names_values_as_users_read_them(path: list[str]) -> None:
    text = _help(path)
    assert not RAW_TYPE.search(text), RAW_TYPE.search(text)


def test_dates_read_date_and_directories_path() -> None:
    assert re.search(r"--as-of\s+DATE", _help(["run-day"]))
    assert re.search(r"DIRECTORY\s+PATH", _help(["import"]))
    assert re.search(r"--limit\s+INTEGER", _help(["dispatch"]))
    flags = _help(["dispatch"])
    assert re.search(r"--once\s+Send", flags)  # a flag names no value


@pytest.mark.parametrize("command", ["import", "run-day", "dispatch", "serve", "demo"])
def test_main_commands_show_examples(command: str) -> None:
    text = _help([command])
    assert "Examples:" in text
    assert f"arrears {command}" in text or f"{command} " in text.split("Examples:")[1]


def test_shell_completion_is_offered() -> None:
    text = _help([])
    assert "--install-completion" in text and "--show-completion" in text


def test_the_installed_command_reads_the_same() -> None:
    out = subprocess.run(
        [str(ARREARS), "run-day", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "DATE" in out and not RAW_TYPE.search(out)
