"""`arrears retention recordings`: recordings of calls older than the rule pack's retention
period are deleted (a dry run only counts); the calls keep their SHA-256 and the day of the
purge; newer recordings stay — on SQLite and PostgreSQL."""

from __future__ import annotations

import wave
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from arrears.channels.telephony.recordings import RecordingStore
from arrears.cli import build
from arrears.privacy import audit
from arrears.store import tables as t
from arrears.store.tables_calls import calls
from tests import factories as f
from tests.integration.privacy.conftest import cli_url


def _call(db: Engine, store: RecordingStore, tmp: Path, key: str, at: datetime) -> str:
    wav = tmp / f"{key}.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00" * 3200)
    rec = store.put(key, wav, at)
    with db.begin() as conn:
        conn.execute(
            insert(calls).values(
                call_key=key, case_id=1, agent="agent1", target_type="borrower", target_id="B1",
                dialer="baresip", business_date=at.date(), started_at=at, ended_at=at,
                outcome="answered", recording_path=rec.path, recording_sha256=rec.sha256,
            )
        )  # fmt: skip
    return rec.path


def test_recordings_past_the_period_are_deleted_and_the_calls_marked(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RecordingStore(tmp_path / "recordings")
    monkeypatch.setenv("ARREARS_KEYS", f.RING.to_json())
    monkeypatch.setenv("ARREARS_RECORDINGS_DIR", str(store.root))
    with db.begin() as conn:
        f.borrower(conn, "B1")
        conn.execute(
            insert(t.cases).values(
                id=1, borrower_id="B1", opened_on=date(2020, 1, 1), currency="CNY"
            )
        )
    old = _call(db, store, tmp_path, "old", datetime(2021, 3, 1, 4, tzinfo=UTC))
    new = _call(db, store, tmp_path, "new", datetime(2021, 3, 2, 4, tzinfo=UTC))

    def run(*args: str) -> str:
        result = CliRunner().invoke(
            build(), ["--database", cli_url(db), "retention", "recordings", *args]
        )
        assert result.exit_code == 0, result.output
        return result.output

    # cn keeps recordings five years: on 2026-03-02 the call of 2021-03-01 is past it
    assert "would delete 1 " in run("--as-of", "2026-03-02", "--dry-run")
    assert store.absolute(old).exists()
    assert "deleted 1 " in run("--as-of", "2026-03-02")
    assert not store.absolute(old).exists() and store.absolute(new).exists()
    with db.connect() as conn:
        rows = {r.call_key: r for r in conn.execute(select(calls))}
        sweeps = audit.entries(conn, kind="retention")
    assert rows["old"].recording_purged_on == date(2026, 3, 2) and rows["old"].recording_sha256
    assert rows["new"].recording_purged_on is None
    assert len(sweeps) == 1 and '"recordings": 1' in sweeps[0]["detail"]
    assert "deleted 0 " in run("--as-of", "2026-03-02")  # a re-run changes nothing
