"""`arrears nightly` stopped by SIGTERM in the middle of a step (systemd stopping the unit): the
process lets the lock go, the step stays `running`, and the next run resumes at that step. The
step is held up by an extract that never arrives (a named pipe nobody writes)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from arrears.cli import build
from arrears.privacy.keyring import KeyRing
from arrears.services.nightly import night_steps_of
from arrears.store.tables_ops import night_lock
from tests.integration.privacy.conftest import cli_url

FIXTURE = Path(__file__).parents[2] / "fixtures" / "import" / "good"
DAY = date(2026, 2, 16)


def _import_status(db: Engine) -> str | None:
    steps = {s["step"]: s for s in night_steps_of(db, DAY)}
    return steps["import"]["status"] if "import" in steps else None


def test_a_night_stopped_by_sigterm_lets_the_lock_go_and_resumes(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch
) -> None:
    day = tmp_path / "extracts" / DAY.isoformat()
    shutil.copytree(FIXTURE, day)
    (day / "payments.csv").unlink()
    os.mkfifo(day / "payments.csv")  # the host's transfer has not finished writing it
    env = {**os.environ, "ARREARS_KEYS": keyring.to_json()}
    args = ["--database", cli_url(db), "nightly", "--as-of", DAY.isoformat()]
    args += ["--extracts", str(tmp_path / "extracts")]
    night = subprocess.Popen(
        [sys.executable, "-c", "from arrears.cli import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):  # until the import step is under way (or the process ended)
            if _import_status(db) == "running" or night.poll() is not None:
                break
            time.sleep(0.05)
        assert _import_status(db) == "running", night.stdout.read() if night.stdout else ""
        night.send_signal(signal.SIGTERM)
        assert night.wait(30) == 128 + signal.SIGTERM
    finally:
        if night.poll() is None:
            night.kill()
    with db.connect() as conn:
        assert conn.execute(select(night_lock)).first() is None  # the lock was let go
    assert _import_status(db) == "running"  # stopped in the middle, not done

    (day / "payments.csv").unlink()
    shutil.copy(FIXTURE / "payments.csv", day / "payments.csv")
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    again = CliRunner().invoke(build(), args)
    assert again.exit_code == 0, again.output
    steps = {s["step"]: s for s in night_steps_of(db, DAY)}
    assert (steps["import"]["status"], steps["import"]["attempts"]) == ("finished", 2)
    assert steps["import"]["rows"] > 0
