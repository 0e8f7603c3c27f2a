"""Call from the case page, end to end on SQLite and PostgreSQL: the rule pack is asked at that
moment, the number is dialled on the server (sipp answers or not), and the call, its interaction,
its recording and the audit entry are recorded; playback is for team leads and compliance."""

from __future__ import annotations

import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from arrears.channels.telephony.factory import NoDialer
from arrears.channels.telephony.port import CallOutcome, CallResult, DialerUnavailable
from arrears.channels.telephony.recordings import RecordingStore
from arrears.channels.telephony.webhook import WebhookDialer
from arrears.channels.webhook import WebhookSignatureInvalid
from arrears.privacy import audit
from arrears.services import calls
from arrears.services.users import Role, User
from arrears.store import tables as t
from arrears.store.tables_calls import calls as calls_table
from tests import factories as f
from tests.telephony_fixtures import SipExchange, requires_sip

pytestmark = requires_sip

D = date(2026, 1, 16)
NOON = datetime(2026, 1, 16, 4, tzinfo=UTC)  # 12:00 in Shanghai
NIGHT = datetime(2026, 1, 16, 15, tzinfo=UTC)  # 23:00 in Shanghai
BORROWER_PHONE = "+8613800000001"
CONTACT_PHONE = "+8613900000002"


def _case(db: Engine, *, unreachable: bool = False) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1", phone=BORROWER_PHONE, timezone="Asia/Shanghai")
        f.contact(conn, "C1", "B1", phone=CONTACT_PHONE)
        conn.execute(
            insert(t.cases).values(
                id=1,
                borrower_id="B1",
                opened_on=D,
                currency="CNY",
                status="open",
                unreachable_on=D if unreachable else None,
            )
        )
        conn.execute(
            insert(t.run_log).values(business_date=D, step="run_day", finished_at=NOON, rows=1)
        )


def _user(name: str, role: Role) -> User:
    return User(name, name, role, None, "zh-CN", 2, 0, True)


def _wait_done(db: Engine, exchange: SipExchange, call_id: int) -> calls.CallStatus:
    for _ in range(200):
        status = calls.call_status(db, call_id, dialer=exchange.dialer, ring=f.RING)
        if status.done:
            return status
        time.sleep(0.1)
    raise AssertionError(f"call {call_id} did not end")


def test_the_borrower_does_not_answer_and_the_attempt_is_recorded(
    db: Engine, sip_exchange: SipExchange
) -> None:
    _case(db)
    sip_exchange.route(BORROWER_PHONE, "no_answer")
    attempt = calls.place_call(
        db, sip_exchange.dialer, ring=f.RING, case_id=1, target="borrower", contact_id=None,
        agent_user_id="agent1", at=NOON, max_ring_seconds=1.0, wait=True, wait_timeout=20,
    )  # fmt: skip
    assert attempt.placed and attempt.verdict.allowed
    status = attempt.status
    assert status is not None and status.done
    assert status.outcome == CallOutcome.NO_ANSWER and status.talk_ms == 0
    assert not status.has_recording
    with db.connect() as conn:
        inter = conn.execute(
            select(t.interactions).where(t.interactions.c.id == status.interaction_id)
        ).one()
        row = conn.execute(select(calls_table)).one()
        unreachable = conn.scalar(select(t.cases.c.unreachable_on))
    assert (inter.channel, inter.target_type, inter.target_id, inter.outcome) == (
        "call", "borrower", "B1", "no_answer",
    )  # fmt: skip
    assert inter.agent == "agent1" and inter.business_date == D
    assert row.action_id == attempt.verdict.action_id and row.business_date == D
    assert unreachable == D  # the day-one rule: the borrower could not be reached
    # the number never left the server: not in the call's row
    assert all(BORROWER_PHONE[3:] not in str(v) for v in row._mapping.values())


def test_the_contact_answers_the_call_is_live_then_recorded_and_audited(
    db: Engine, sip_exchange: SipExchange
) -> None:
    _case(db, unreachable=True)
    sip_exchange.route(CONTACT_PHONE, "answer", hold_ms=2000)
    attempt = calls.place_call(
        db, sip_exchange.dialer, ring=f.RING, case_id=1, target="contact", contact_id="C1",
        agent_user_id="agent1", at=NOON,
    )  # fmt: skip
    assert attempt.placed and attempt.call_id is not None and attempt.status is None
    with db.connect() as conn:
        live = calls.calls_in_progress(conn)
    assert [(c.agent, c.case_id, c.target_type) for c in live] == [("agent1", 1, "contact")]
    status = _wait_done(db, sip_exchange, attempt.call_id)
    assert status.outcome == CallOutcome.ANSWERED and status.has_recording
    assert status.talk_ms is not None and abs(status.talk_ms - 2000) <= 1000
    with db.connect() as conn:
        assert calls.calls_in_progress(conn) == []
        row = conn.execute(select(calls_table)).one()
        inter = conn.execute(select(t.interactions)).one()
        entries = audit.entries(conn, kind="recording")
    assert inter.outcome == "contact_reached" and row.interaction_id == inter.id
    assert abs(row.recording_ms - 2000) <= 1000
    assert len(entries) == 1 and row.recording_sha256 in entries[0]["detail"]
    assert CONTACT_PHONE[3:] not in entries[0]["detail"]

    # an agent may not play it; the refusal is audited
    with pytest.raises(calls.RecordingForbidden):
        calls.open_recording(
            db, f.RING, sip_exchange.recordings, call_id=attempt.call_id,
            user=_user("agent1", Role.AGENT), at=NOON,
        )  # fmt: skip
    played = calls.open_recording(
        db, f.RING, sip_exchange.recordings, call_id=attempt.call_id,
        user=_user("lead1", Role.TEAM_LEAD), at=NOON,
    )  # fmt: skip
    assert played.data[:4] == b"RIFF" and played.sha256 == row.recording_sha256
    with db.connect() as conn:
        events = [(e["actor"], e["detail"]) for e in audit.entries(conn, kind="recording")]
        assert audit.verify(conn, f.RING) == []
    assert [a for a, _ in events] == ["lead1", "agent1", "agent1"]  # newest first
    assert '"played"' in events[0][1] and '"refused"' in events[1][1]

    # the agent completes the call: hardship (illness) on the same interaction
    calls.wrap_up_call(db, attempt.call_id, outcome="hardship", hardship="illness", note="住院")
    with db.connect() as conn:
        inter = conn.execute(select(t.interactions)).one()
        case = conn.execute(select(t.cases)).one()
    assert (inter.outcome, inter.hardship, case.hardship) == ("hardship", "illness", "illness")


def test_a_call_the_rule_pack_refuses_is_not_dialled(db: Engine, sip_exchange: SipExchange) -> None:
    _case(db)
    phone = sip_exchange.route(BORROWER_PHONE, "answer")
    attempt = calls.place_call(
        db, sip_exchange.dialer, ring=f.RING, case_id=1, target="borrower", contact_id=None,
        agent_user_id="agent1", at=NIGHT,
    )  # fmt: skip
    assert not attempt.placed and not attempt.verdict.allowed
    assert attempt.verdict.rule_id == "cn.time_window" and attempt.verdict.next_allowed_at
    with db.connect() as conn:
        assert conn.execute(select(calls_table)).all() == []
        assert conn.execute(select(t.interactions)).all() == []
    assert sip_exchange.dialer.phones == {}  # no softphone was even started
    assert phone.proc.poll() is None


def test_recordings_past_the_retention_period_are_deleted(
    db: Engine, sip_exchange: SipExchange
) -> None:
    _case(db, unreachable=True)
    sip_exchange.route(CONTACT_PHONE, "answer", hold_ms=1000)
    attempt = calls.place_call(
        db, sip_exchange.dialer, ring=f.RING, case_id=1, target="contact", contact_id="C1",
        agent_user_id="agent1", at=NOON, wait=True, wait_timeout=20,
    )  # fmt: skip
    assert attempt.status is not None and attempt.status.has_recording
    with db.connect() as conn:
        path = conn.scalar(select(calls_table.c.recording_path))
    stored = sip_exchange.recordings.absolute(path)
    day = date.fromisoformat(path[:10].replace("/", "-"))
    kept = calls.purge_recordings(
        db, f.RING, sip_exchange.recordings, as_of=date(day.year + 5, day.month, day.day)
    )
    assert kept.deleted == 0 and stored.exists()  # cn keeps five years: still inside
    later = date(day.year + 5, day.month, day.day) + timedelta(days=1)
    gone = calls.purge_recordings(db, f.RING, sip_exchange.recordings, as_of=later)
    assert gone.deleted == 1 and not stored.exists()
    status = calls.call_status(db, attempt.status.call_id)
    assert not status.has_recording
    with pytest.raises(calls.RecordingUnavailable):
        calls.open_recording(
            db, f.RING, sip_exchange.recordings, call_id=status.call_id,
            user=_user("officer", Role.COMPLIANCE), at=NOON,
        )  # fmt: skip


def test_a_call_no_dialler_can_place_or_follow_fails_without_an_interaction(
    db: Engine, sip_exchange: SipExchange
) -> None:
    _case(db)
    with pytest.raises(DialerUnavailable, match="ARREARS_DIALER"):
        calls.place_call(
            db, NoDialer(), ring=f.RING, case_id=1, target="borrower", contact_id=None,
            agent_user_id="agent1", at=NOON,
        )  # fmt: skip
    sip_exchange.route(BORROWER_PHONE, "no_answer")
    ringing = calls.place_call(
        db, sip_exchange.dialer, ring=f.RING, case_id=1, target="borrower", contact_id=None,
        agent_user_id="agent1", at=NOON, max_ring_seconds=30,
    )  # fmt: skip
    assert ringing.call_id is not None
    # the server restarted: the new dialler does not know the call, which is closed as failed
    with db.connect() as conn:
        assert [c.call_id for c in calls.calls_in_progress(conn)] == [ringing.call_id]
    assert calls.reconcile_calls(db, NoDialer(), f.RING) == 1
    lost = calls.call_status(db, ringing.call_id)
    assert lost.done and lost.outcome == CallOutcome.FAILED and lost.interaction_id is None
    sip_exchange.dialer.hangup(_key(db, 2))
    sip_exchange.dialer.wait(_key(db, 2), timeout=10)
    with db.connect() as conn:
        outcomes = conn.execute(select(calls_table.c.outcome).order_by(calls_table.c.id)).all()
        assert calls.calls_in_progress(conn) == []
        assert conn.execute(select(t.interactions)).all() == []
    assert [o for (o,) in outcomes] == ["failed", "failed"]  # the late end changed nothing


def _key(db: Engine, call_id: int) -> str:
    with db.connect() as conn:
        return str(conn.scalar(select(calls_table.c.call_key).where(calls_table.c.id == call_id)))


def test_a_calls_end_reported_twice_at_once_is_recorded_once(db: Engine, tmp_path: Path) -> None:
    """The dialler's callback and the page's status poll may both bring the same result."""
    _case(db, unreachable=True)
    with db.begin() as conn:
        conn.execute(
            insert(calls_table).values(
                call_key="k", case_id=1, agent="agent1", target_type="contact", target_id="C1",
                dialer="test", business_date=D, started_at=NOON,
            )
        )  # fmt: skip
    wav = tmp_path / "side.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00\x02\x00" * 8000)
    rec = RecordingStore(tmp_path / "rec").put("k", wav, NOON)
    result = CallResult(
        "k", CallOutcome.ANSWERED, NOON, NOON + timedelta(seconds=9),
        NOON + timedelta(seconds=8), recording=rec,
    )  # fmt: skip
    barrier = threading.Barrier(4)

    def finish() -> int | None:
        barrier.wait()
        return calls.finish_call(db, f.RING, result)

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda _: finish(), range(4)))
    with db.connect() as conn:
        interactions = conn.execute(select(t.interactions)).all()
        stored = audit.entries(conn, kind="recording")
        row = conn.execute(select(calls_table)).one()
    assert len(interactions) == 1 and len(stored) == 1
    assert set(ids) == {interactions[0].id} and row.interaction_id == interactions[0].id
    assert row.talk_ms == 1000 and row.recording_sha256 == rec.sha256


def test_a_cloud_call_centres_result_is_recorded_after_a_restart(
    db: Engine, tmp_path: Path
) -> None:
    from tests.integration.telephony.test_webhook_dialer import SECRET, CallCentre

    _case(db)
    centre = CallCentre()
    centre.auto_report = False
    store = RecordingStore(tmp_path / "rec")

    def dialer() -> WebhookDialer:
        return WebhookDialer(
            centre.url, SECRET, callback_url="http://127.0.0.1:9/unused", recordings=store
        )

    try:
        attempt = calls.place_call(
            db, dialer(), ring=f.RING, case_id=1, target="borrower", contact_id=None,
            agent_user_id="agent1", at=NOON,
        )  # fmt: skip
        assert attempt.call_id is not None
        assert centre.starts[0]["to"] == BORROWER_PHONE  # the number goes to the call centre only
        body, header = centre.signed_result(centre.starts[0])
        restarted = dialer()  # a new process: the call is not pending in it
        with pytest.raises(WebhookSignatureInvalid):
            calls.receive_call_result(db, f.RING, restarted, body, "t=1,v1=forged")
        status = calls.receive_call_result(db, f.RING, restarted, body, header)
    finally:
        centre.server.shutdown()
    assert status.call_id == attempt.call_id and status.outcome == "answered"
    assert status.talk_ms == 2000 and status.has_recording and status.interaction_id
    with db.connect() as conn:
        assert len(audit.entries(conn, kind="recording")) == 1
