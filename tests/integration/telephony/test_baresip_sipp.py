"""The baresip adapter against sipp on loopback: each way a call can end is told apart, and an
answered call's recording holds both sides for as long as the call lasted."""

from __future__ import annotations

import array
import hashlib
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from arrears.channels.telephony.port import CallOutcome, CallRequest, CallResult, DialerBusy
from tests.telephony_fixtures import SipExchange, requires_sip

pytestmark = requires_sip

RING = 1.5  # seconds we let a phone ring before hanging up ourselves

# number prefix -> (scenario, hold ms, the outcome the adapter must report)
PHONES = {
    "1301": ("answer", 1000, CallOutcome.ANSWERED),
    "1302": ("answer", 2000, CallOutcome.ANSWERED),
    "1303": ("answer", 3000, CallOutcome.ANSWERED),
    "1304": ("no_answer", 0, CallOutcome.NO_ANSWER),
    "1305": ("busy", 0, CallOutcome.BUSY),
    "1306": ("reject", 0, CallOutcome.REJECTED),
}


def _sides(path: Path) -> tuple[float, int, int]:
    """Duration (s) and peak amplitude of the left (agent) and right (far end) channels."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (2, 2)
        frames = w.getnframes()
        samples = array.array("h", w.readframes(frames))
        seconds = frames / w.getframerate()
    return seconds, max(map(abs, samples[0::2])), max(map(abs, samples[1::2]))


def _check(exchange: SipExchange, number: str, result: CallResult) -> None:
    scenario, hold_ms, expected = PHONES[number[:4]]
    assert result.outcome is expected, (number, scenario, result.reason)
    if expected is not CallOutcome.ANSWERED:
        assert result.answered_at is None and result.recording is None
        return
    assert abs(result.talk_ms - hold_ms) <= 1000, (number, result.talk_ms)
    rec = result.recording
    assert rec is not None
    path = exchange.recordings.absolute(rec.path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == rec.sha256
    seconds, agent_peak, far_peak = _sides(path)
    assert abs(seconds - hold_ms / 1000) <= 1.0, (number, seconds)
    assert abs(rec.duration_ms - hold_ms) <= 1000
    # the tone the softphone sent, and the far end's audio (sipp echoes it back): real media
    assert agent_peak > 1000 and far_peak > 1000


def _setup(exchange: SipExchange) -> None:
    for prefix, (scenario, hold_ms, _) in PHONES.items():
        exchange.route(prefix, scenario, hold_ms=hold_ms or 1000)


@pytest.mark.slow
def test_fifty_calls_end_as_their_phones_made_them_end(sip_exchange: SipExchange) -> None:
    _setup(sip_exchange)
    dialer = sip_exchange.dialer
    prefixes = list(PHONES)
    numbers = [f"{prefixes[i % len(prefixes)]}{i:07d}" for i in range(50)]
    agents = ["agent1", "agent2", "agent3"]  # three softphones dial in parallel

    def line(agent_no: int) -> list[tuple[str, CallResult]]:
        done = []
        for i in range(agent_no, len(numbers), len(agents)):
            call_id = f"call-{i:02d}"
            dialer.dial(CallRequest(call_id, numbers[i], agents[agent_no], RING))
            result = dialer.wait(call_id, timeout=30)
            assert result is not None, f"{call_id} never ended"
            done.append((numbers[i], result))
        return done

    with ThreadPoolExecutor(len(agents)) as pool:
        results = [r for batch in pool.map(line, range(len(agents))) for r in batch]
    assert len(results) == 50
    for number, result in results:
        _check(sip_exchange, number, result)
    outcomes = {r.outcome for _, r in results}
    assert outcomes == set(CallOutcome) - {CallOutcome.FAILED}
    assert len({r.recording.path for _, r in results if r.recording}) == sum(
        1 for _, r in results if r.outcome is CallOutcome.ANSWERED
    )


def test_a_line_with_a_call_refuses_a_second_and_hangup_ends_it(
    sip_exchange: SipExchange,
) -> None:
    sip_exchange.route("1399", "no_answer")
    dialer = sip_exchange.dialer
    dialer.dial(CallRequest("first", "13990000000", "agent1", 30))
    with pytest.raises(DialerBusy):
        dialer.dial(CallRequest("second", "13990000001", "agent1", 30))
    assert dialer.result("first") is None  # still ringing
    dialer.hangup("first")
    result = dialer.wait("first", timeout=10)
    assert result is not None and result.outcome is CallOutcome.NO_ANSWER
    assert result.reason == "hung up by the agent"
    # the line is free again
    dialer.dial(CallRequest("third", "13990000002", "agent1", 0.5))
    third = dialer.wait("third", timeout=10)
    assert third is not None and third.outcome is CallOutcome.NO_ANSWER


def test_a_number_nobody_answers_rings_out_and_the_number_is_not_in_the_request_repr(
    sip_exchange: SipExchange,
) -> None:
    request = CallRequest("x", "13812345678", "agent1", 0.5)
    assert "13812345678" not in repr(request)
    sip_exchange.dialer.dial(request)
    result = sip_exchange.dialer.wait("x", timeout=10)
    assert result is not None and result.outcome is CallOutcome.NO_ANSWER
    assert result.reason == "ring timeout"
