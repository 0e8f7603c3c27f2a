"""The dialler's pure parts: number → SIP URI routes, how a SIP close reason maps to an
outcome, and the recording store's layout, integrity check and retention listing."""

from __future__ import annotations

import wave
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from arrears.channels.telephony.baresip import NumberInvalid, SipRouteInvalid, SipRoutes
from arrears.channels.telephony.port import CallOutcome, CallResult, outcome_of_sip
from arrears.channels.telephony.recordings import (
    RecordingPathInvalid,
    RecordingStore,
    RecordingTampered,
    mix_stereo,
)


def test_the_longest_matching_prefix_routes_the_number() -> None:
    routes = SipRoutes.parse(
        "*=sip:{number}@pbx.example.cn;+86=sip:{number}@trunk-a.example.cn;"
        "+86139=sip:{number}@trunk-b.example.cn:5080"
    )
    assert routes.uri_for("+86 139-0000-0002") == "sip:+8613900000002@trunk-b.example.cn:5080"
    assert routes.uri_for("+8613800000001") == "sip:+8613800000001@trunk-a.example.cn"
    assert routes.uri_for("01012345678") == "sip:01012345678@pbx.example.cn"
    assert SipRoutes.parse("sip:{number}@127.0.0.1:5070").uri_for("138") == (
        "sip:138@127.0.0.1:5070"
    )
    with pytest.raises(SipRouteInvalid):
        SipRoutes.parse("138=tel:{number}")
    with pytest.raises(NumberInvalid):
        routes.uri_for("n/a")


@pytest.mark.parametrize(
    ("reason", "established", "timeout", "expected"),
    [
        ("Connection reset by peer", True, False, CallOutcome.ANSWERED),
        ("", False, True, CallOutcome.NO_ANSWER),
        ("486 Busy Here", False, False, CallOutcome.BUSY),
        ("600 Busy Everywhere", False, False, CallOutcome.BUSY),
        ("603 Decline", False, False, CallOutcome.REJECTED),
        ("480 Temporarily Unavailable", False, False, CallOutcome.NO_ANSWER),
        ("408 Request Timeout", False, False, CallOutcome.NO_ANSWER),
        ("404 Not Found", False, False, CallOutcome.FAILED),
        ("Connection refused", False, False, CallOutcome.FAILED),
    ],
)
def test_a_close_reason_maps_to_an_outcome(
    reason: str, established: bool, timeout: bool, expected: CallOutcome
) -> None:
    assert outcome_of_sip(reason, established=established, cancelled_for_timeout=timeout) is (
        expected
    )


def test_talk_time_counts_from_the_answer() -> None:
    start = datetime(2026, 1, 5, 2, 0, 0, tzinfo=UTC)
    answered = datetime(2026, 1, 5, 2, 0, 3, 250000, tzinfo=UTC)
    ended = datetime(2026, 1, 5, 2, 1, 0, tzinfo=UTC)
    r = CallResult("c", CallOutcome.ANSWERED, start, ended, answered)
    assert r.talk_ms == 56750 and str(r.duration_seconds) == "56.750"
    assert CallResult("c", CallOutcome.BUSY, start, start).talk_ms == 0


def _wav(path: Path, frames: int, value: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(value.to_bytes(2, "little", signed=True) * frames)
    return path


def test_a_recording_is_stored_by_day_checked_on_read_and_expires(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "rec")
    mixed = tmp_path / "m.wav"
    ms = mix_stereo(_wav(tmp_path / "a.wav", 8000, 100), _wav(tmp_path / "b.wav", 4000, -7), mixed)
    assert ms == 1000
    with wave.open(str(mixed), "rb") as w:
        assert w.getnchannels() == 2 and w.getnframes() == 8000
        first, last = w.readframes(1), (w.setpos(7999), w.readframes(1))[1]
    assert first == (100).to_bytes(2, "little", signed=True) + (-7).to_bytes(
        2, "little", signed=True
    )
    assert last[2:] == b"\x00\x00"  # the shorter side is padded with silence
    old = store.put("call/1", mixed, datetime(2026, 1, 4, 23, tzinfo=UTC))
    assert old.path == "2026/01/04/call_1.wav" and old.duration_ms == 1000
    new = store.put("c2", _wav(tmp_path / "c.wav", 800, 1), datetime(2026, 1, 5, 1, tzinfo=UTC))
    assert store.read(old.path, old.sha256)[:4] == b"RIFF"
    assert store.expired(date(2026, 1, 5)) == [old.path]
    assert store.delete(store.expired(date(2026, 1, 5))) == 1
    assert store.expired(date(2026, 1, 6)) == [new.path]
    target = store.absolute(new.path)
    target.write_bytes(target.read_bytes()[:-1] + b"\x01")
    with pytest.raises(RecordingTampered):
        store.read(new.path, new.sha256)
    with pytest.raises(RecordingPathInvalid):
        store.absolute("../../etc/passwd")
