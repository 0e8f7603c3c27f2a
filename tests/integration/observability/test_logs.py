"""A day run from the command line with --log-json: import, run-day, dispatch each log JSON lines
with the business date, the step and ids; no name, phone number or e-mail of the extracts
reaches the log. Without it, off a terminal, no progress bar is drawn."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from arrears.privacy.keyring import KeyRing
from tests.daytime import daytime_env
from tests.integration.privacy.conftest import cli_url

ARREARS = Path(sys.executable).with_name("arrears")
EXTRACTS = Path(__file__).parents[2] / "fixtures" / "import" / "good"


def _personal() -> set[str]:
    """Every name, phone number and e-mail address of the extracts."""
    found: set[str] = set()
    for name in ("borrowers.csv", "contacts.csv"):
        with (EXTRACTS / name).open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                found |= {row[k] for k in ("name", "phone", "email") if row.get(k)}
    return found


def _arrears(
    db: Engine, tmp: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(ARREARS), "--database", cli_url(db), *args],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def _lines(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def test_a_day_logged_as_json_lines_names_no_one(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ARREARS_KEYS": keyring.to_json(),
        "ARREARS_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    env.pop("ARREARS_LOG_FORMAT", None)
    imported = _arrears(db, tmp_path, env, "--log-json", "import", str(EXTRACTS))
    ran = _arrears(
        db, tmp_path, {**env, "ARREARS_LOG_FORMAT": "json"}, "run-day", "--as-of", "2026-02-20"
    )
    sent = _arrears(db, tmp_path, daytime_env(env), "--log-json", "dispatch", "--once")

    lines = [*_lines(imported.stderr), *_lines(ran.stderr), *_lines(sent.stderr)]  # all JSON
    files = {e["file"]: e for e in lines if e["area"] == "import"}
    assert files["borrowers.csv"]["inserted"] == 3
    steps = {e["step"]: e for e in lines if e["event"] == "step finished"}
    assert {"post_payments", "update_cases", "gate", "enqueue_messages"} <= steps.keys()
    assert all(e["business_date"] == "2026-02-20" for e in steps.values())
    assert steps["update_cases"]["rows"] == 2
    batches = [e for e in lines if e["area"] == "dispatch"]
    assert sum(int(e["sent"]) for e in batches) >= 1
    assert all(e["outbox_ids"] for e in batches)

    everything = imported.stderr + ran.stderr + sent.stderr
    leaked = {value for value in _personal() if value in everything}
    assert not leaked
    # the messages really went out, names and all: the log kept them out, not an empty run
    outbox = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "outbox").rglob("*.*"))
    assert any(value in outbox for value in _personal())


def test_no_bar_off_a_terminal(db: Engine, keyring: KeyRing, tmp_path: Path) -> None:
    env = {**os.environ, "ARREARS_KEYS": keyring.to_json()}
    env.pop("ARREARS_LOG_FORMAT", None)
    done = _arrears(db, tmp_path, env, "import", str(EXTRACTS))
    assert "\r" not in done.stderr and "it/s" not in done.stderr  # no bar redrawn
    assert "borrowers.csv            3" in done.stdout  # the report as before
