"""The dispatcher as a process, against a real SMPP peer: killed with SIGKILL mid-way and
restarted, then two dispatchers sharing one PostgreSQL outbox — no message twice, none lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from tests.daytime import daytime_env
from tests.integration.channels.outbox import phone_of, queue_messages
from tests.integration.channels.smsc import Smsc

pytestmark = pytest.mark.slow

N = 5000
ROOT = Path(__file__).resolve().parents[2]


def database_url(engine: Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{url.database}"
    schema = engine.dialect.default_schema_name
    with engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    return url.set(
        drivername="postgresql", query={"options": f"-csearch_path={schema}"}
    ).render_as_string(hide_password=False)


def dispatcher(engine: Engine, ring: KeyRing, channels: Path, *args: str) -> subprocess.Popen[str]:
    env = daytime_env(
        {**os.environ, "ARREARS_KEYS": ring.to_json(), "PYTHONPATH": str(ROOT / "src")}
    )
    return subprocess.Popen(
        [sys.executable, "-c", "from arrears.cli import main; main()",
         "--database", database_url(engine), "dispatch", "--once", "--no-progress", "--json",
         "--channels", str(channels), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


def channels_file(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "lender_name: {zh-CN: 示例消费金融, en: Example Finance}\n"
        "channels:\n"
        f"  sms: {{kind: smpp, host: 127.0.0.1, port: {port}, system_id: arrears,"
        " password: secret, source_addr: '106900001234', window: 64}\n",
        encoding="utf-8",
    )
    return path


def outbox(engine: Engine) -> dict[str, str]:
    """destination (without +) -> outbox status"""
    with engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.target_id, t.outbox.c.status)).all()
    return {phone_of(int(target[1:])).lstrip("+"): status for target, status in rows}


def parts_per_message(smsc: Smsc) -> int:
    return Counter(smsc.counts().values()).most_common(1)[0][0]


def test_sigkill_mid_way_then_restart_sends_each_message_at_most_once(
    db: Engine, keyring: KeyRing, tmp_path: Path
):
    with db.begin() as conn:
        queue_messages(conn, keyring, N)
    with Smsc() as smsc:
        channels = channels_file(tmp_path, smsc.port)
        first = dispatcher(db, keyring, channels, "--batch", "100", "--lease", "1")
        deadline = time.monotonic() + 120
        while len(smsc.received) < 2000 and time.monotonic() < deadline:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        at_kill = len(smsc.counts())
        assert 0 < at_kill < N, "the kill must land mid-way"
        time.sleep(1.5)  # the dead worker's lease runs out
        second = dispatcher(db, keyring, channels, "--batch", "100", "--lease", "1")
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        parts = parts_per_message(smsc)
        received = smsc.counts()
    status = outbox(db)
    # none twice: no destination received more than one message's parts
    assert max(received.values()) == parts
    # none lost: every message was either sent (received exactly once) or flagged unknown
    flagged = [d for d, s in status.items() if s == "unknown"]
    assert set(status.values()) <= {"sent", "unknown"}
    assert all(received[d] == parts for d, s in status.items() if s == "sent")
    assert len(flagged) == report["recovered_unknown"] <= 100  # at most the batch in flight
    assert len(status) == N
    print(f"killed after {at_kill} messages; {len(flagged)} in flight flagged unknown")


def test_two_dispatchers_on_postgres_share_the_outbox(db: Engine, keyring: KeyRing, tmp_path: Path):
    if db.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED sharing is a PostgreSQL feature; SQLite runs one worker")
    with db.begin() as conn:
        queue_messages(conn, keyring, N)
    with Smsc() as smsc:
        channels = channels_file(tmp_path, smsc.port)
        workers = [dispatcher(db, keyring, channels, "--batch", "50") for _ in range(2)]
        reports = []
        for w in workers:
            out, err = w.communicate(timeout=300)
            assert w.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        parts = parts_per_message(smsc)
        received = smsc.counts()
    assert [r["sent"] > 0 for r in reports] == [True, True]  # both did work
    assert sum(r["sent"] for r in reports) == N
    assert len(received) == N and set(received.values()) == {parts}  # none sent by both
    assert set(outbox(db).values()) == {"sent"}


def test_review_resolves_unknown_messages(db: Engine, keyring: KeyRing, tmp_path: Path):
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 2)
        conn.execute(update(t.outbox).values(status="unknown"))
    env = {**os.environ, "ARREARS_KEYS": keyring.to_json()}
    base = [sys.executable, "-c", "from arrears.cli import main; main()", "--database",
            database_url(db), "dispatch-review"]  # fmt: skip
    listed = subprocess.run(base, env=env, capture_output=True, text=True, cwd=ROOT, check=True)
    assert [json.loads(x)["id"] for x in listed.stdout.splitlines()] == ids
    subprocess.run([*base, "--resolve", str(ids[0]), "--treat-as-sent"], env=env, check=True,
                   capture_output=True, cwd=ROOT)  # fmt: skip
    subprocess.run([*base, "--resolve", str(ids[1]), "--resend"], env=env, check=True,
                   capture_output=True, cwd=ROOT)  # fmt: skip
    with db.connect() as conn:
        assert dict(conn.execute(select(t.outbox.c.id, t.outbox.c.status)).all()) == {
            ids[0]: "sent",
            ids[1]: "pending",
        }
