"""A real Prometheus scrapes two `arrears serve` processes on one database: both report the same
queue sizes and cases (read from the database at scrape time), and `promtool` finds nothing
wrong with the exposition."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from arrears.bootstrap import App
from tests.integration.observability.conftest import DAY1, behind
from tests.integration.privacy.conftest import cli_url

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
ARREARS = Path(sys.executable).with_name("arrears")


@pytest.fixture(autouse=True)
def _needs_prometheus() -> None:
    if PROMETHEUS and PROMTOOL:
        return
    if os.environ.get("CI") == "true":  # CI installs it (.ci/run): its absence is a failure
        pytest.fail("prometheus/promtool not installed (apt-get install prometheus)")
    pytest.skip("prometheus not installed here (apt-get install prometheus)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, what: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"{what} exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not come up at {url}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def two_servers(db: Engine, wired: App, tmp_path: Path) -> Iterator[list[str]]:
    behind(wired)
    wired.run_day(DAY1)
    env = {**os.environ, "ARREARS_KEYS": wired.keyring.to_json()}
    procs, targets = [], []
    try:
        for _ in range(2):
            port = _free_port()
            cmd = [str(ARREARS), "--database", cli_url(db), "serve", "--port", str(port)]
            proc = subprocess.Popen(
                cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            procs.append(proc)
            _wait(f"http://127.0.0.1:{port}/healthz", "arrears serve", proc)
            targets.append(f"127.0.0.1:{port}")
        yield targets
    finally:
        for proc in procs:
            _stop(proc)


@pytest.fixture
def prometheus(two_servers: list[str], tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    targets = ", ".join(f'"{t}"' for t in two_servers)
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: arrears\n    static_configs:\n"
        f"      - targets: [{targets}]\n"
    )
    assert PROMETHEUS is not None
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/-/ready", "prometheus", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def _query(base: str, promql: str, want: int, seconds: float = 60) -> dict[str, float]:
    """instance -> value, once `want` instances answer."""
    deadline = time.monotonic() + seconds
    found: dict[str, float] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5).json()
        assert answer["status"] == "success", answer
        found = {r["metric"]["instance"]: float(r["value"][1]) for r in answer["data"]["result"]}
        if len(found) >= want:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{promql}: {found} after {seconds}s")


def test_prometheus_scrapes_two_servers_that_agree(
    prometheus: str, two_servers: list[str], db: Engine
) -> None:
    with db.connect() as conn:
        pending = conn.scalar(text("SELECT count(*) FROM outbox WHERE status = 'pending'"))
        open_cases = conn.scalar(text("SELECT count(*) FROM cases WHERE status = 'open'"))
    assert open_cases == 3
    assert _query(prometheus, "up", 2) == {t: 1.0 for t in two_servers}
    assert _query(prometheus, "arrears_database_up", 2) == {t: 1.0 for t in two_servers}
    assert _query(prometheus, "arrears_outbox_pending", 2) == {t: pending for t in two_servers}
    cases = _query(prometheus, 'arrears_cases{status="open"}', 2)
    assert cases == {t: 3.0 for t in two_servers}
    day = datetime(DAY1.year, DAY1.month, DAY1.day, tzinfo=UTC).timestamp()
    last = _query(prometheus, "arrears_last_run_business_date_seconds", 2)
    assert last == {t: day for t in two_servers}
    # each server times the scrapes it answered
    scrapes = _query(prometheus, 'arrears_http_request_duration_seconds_count{route="/metrics"}', 2)
    assert all(n >= 1 for n in scrapes.values())


def test_promtool_finds_the_exposition_sound(two_servers: list[str]) -> None:
    body = httpx.get(f"http://{two_servers[0]}/metrics", timeout=5).text
    assert "arrears_outbox_pending" in body
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
