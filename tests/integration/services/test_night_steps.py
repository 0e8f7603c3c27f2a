"""The night's dispatch step against a real SMSC on loopback: a channel that is down fails the
step (messages left to retry are not a finished night), and the resumed step sends them at
once rather than after the back-off. The lock: refused while held, waited for, broken."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from arrears.bootstrap import App
from arrears.cli import build
from arrears.cli.nightly import next_run, start_scheduler
from arrears.config import Settings
from arrears.privacy.keyring import KeyRing
from arrears.services.night_steps import NightConfig, dispatch_step, import_step
from arrears.services.nightly import (
    LOCK_NAME,
    NightLockHeld,
    NightStatus,
    NightStepFailed,
    StepContext,
    held_lock,
    last_night,
)
from arrears.store import tables as t
from arrears.store.tables_ops import night_lock
from tests.integration.channels.outbox import AT, DAY, queue_messages
from tests.integration.channels.smsc import Smsc, free_port
from tests.integration.privacy.conftest import cli_url

NOW = AT + timedelta(minutes=5)  # 09:05 in Shanghai: a time messages may go out


def _channels(path: Path, port: int) -> Path:
    path.write_text(
        "channels:\n"
        f"  sms: {{kind: smpp, host: 127.0.0.1, port: {port}, system_id: arrears, "
        'password: pw, source_addr: "106900001234", timeout: 2}\n'
    )
    return path


def _statuses(db: Engine) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(select(t.outbox.c.status).order_by(t.outbox.c.id)).scalars())


def test_a_channel_down_fails_dispatch_and_the_resumed_step_sends_at_once(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    with db.begin() as conn:
        queue_messages(conn, keyring, 3)
    down = NightConfig(channels=_channels(tmp_path / "down.yaml", free_port()))
    with pytest.raises(NightStepFailed, match=r"3 message\(s\) could not be sent"):
        dispatch_step(db, keyring, down, StepContext(DAY, 1), NOW)
    assert _statuses(db) == ["pending"] * 3  # waiting out a back-off, nothing lost

    with Smsc() as smsc:
        up = NightConfig(channels=_channels(tmp_path / "up.yaml", smsc.port))
        # ten seconds later, inside the back-off: only a resumed step makes them due
        result = dispatch_step(db, keyring, up, StepContext(DAY, 2), NOW + timedelta(seconds=10))
        assert result.rows == 3
        assert len(smsc.counts()) == 3  # each borrower's message (in its UCS-2 parts)
    assert _statuses(db) == ["sent"] * 3


def test_the_lock_refuses_waits_and_breaks(db: Engine, keyring: KeyRing, monkeypatch) -> None:
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    url = cli_url(db)

    def nightly(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(build(), ["--database", url, "nightly", *args])
        return result.exit_code, result.output

    with held_lock(db, "cron@box-a pid 1"):
        with pytest.raises(NightLockHeld, match="cron@box-a pid 1"), held_lock(db, "b pid 2"):
            pass
        code, output = nightly("--as-of", DAY.isoformat())
        assert code == 3 and "held by cron@box-a pid 1" in output

    # a night that waits takes the lock once the other lets go
    taken, release = threading.Event(), threading.Event()

    def other_night() -> None:
        with held_lock(db, "cron@box-a pid 1"):
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=other_night)
    holder.start()
    assert taken.wait(10)
    threading.Timer(0.5, release.set).start()
    code, output = nightly("--as-of", DAY.isoformat(), "--wait", "30")
    holder.join()
    assert code == 0, output

    # a holder that died leaves its row: refused until the operator breaks it
    with db.begin() as conn:  # the row a killed night leaves behind
        conn.execute(insert(night_lock).values(name=LOCK_NAME, holder="cron@box-c pid 3", since=AT))
    code, output = nightly("--as-of", DAY.isoformat())
    assert code == 3
    code, output = nightly("--break-lock")
    assert code == 0 and "held by cron@box-c pid 3" in output
    code, output = nightly("--as-of", DAY.isoformat())
    assert code == 0 and "already finished" in output


def test_the_schedule_fires_at_the_lenders_clock_time() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    before = datetime(2026, 2, 16, 17, 0, tzinfo=UTC)  # 01:00 on the 17th in Shanghai
    after = datetime(2026, 2, 16, 18, 30, tzinfo=UTC)  # 02:30 on the 17th
    assert next_run(before, time(2, 0), zone) == datetime(2026, 2, 17, 2, 0, tzinfo=zone)
    assert next_run(after, time(2, 0), zone) == datetime(2026, 2, 18, 2, 0, tzinfo=zone)


def test_the_scheduler_thread_runs_the_night_before_its_day(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    """`serve --nightly-at 02:00`: at 02:00 on the 17th in Shanghai the night of the 16th runs."""
    settings = Settings(
        database_url=cli_url(db), keys_json=keyring.to_json(), outbox_dir=tmp_path / "outbox"
    )
    just_before = datetime(2026, 2, 16, 17, 59, 59, 500_000, tzinfo=UTC)  # 01:59:59.5 there
    stop = threading.Event()
    thread = start_scheduler(App(settings), time(2, 0), stop, clock=lambda: just_before)
    try:
        for _ in range(600):
            night = last_night(db)
            if night is not None and night.status == NightStatus.FINISHED:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(30)
    assert night is not None
    assert (night.business_date, night.status) == (date(2026, 2, 16), NightStatus.FINISHED)
    assert not thread.is_alive()


def test_rejected_extracts_fail_the_import_step_saying_where_not_what(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    day = tmp_path / DAY.isoformat()
    day.mkdir()
    (day / "borrowers.csv").write_text(
        "borrower_id,name,phone,email,timezone,language,region,risk_score\n"
        "B1,王芳,13812345678,wang.fang@example.cn,Asia/Shanghai,zh-CN,east,620\n"
        "B2,李伟,call-me-李伟-maybe,li.wei@example.cn,Asia/Shanghai,zh-CN,east,not-a-score\n",
        "utf-8",
    )
    config = NightConfig(extracts=tmp_path)
    with pytest.raises(NightStepFailed) as failed:
        import_step(db, keyring, config, StepContext(DAY, 1), NOW)
    message = str(failed.value)
    assert "problem(s), the first at borrowers.csv:3" in message
    assert "李伟" not in message and "call-me" not in message  # no cell reaches an alert
    with db.connect() as conn:
        assert conn.execute(select(t.borrowers)).first() is None  # all or nothing
    skipped = import_step(
        db, keyring, NightConfig(extracts=tmp_path / "none"), StepContext(DAY, 1), NOW
    )
    assert skipped.skipped and "no extract directory" in skipped.note
