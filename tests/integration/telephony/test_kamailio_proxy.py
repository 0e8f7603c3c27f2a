"""Calls through a PBX: the route table sends every number to kamailio, which relays by prefix
to the phone behind it (sipp). The outcomes, the CANCEL at the ring timeout and the recording
survive the proxy; a number the PBX does not know fails (404) rather than ringing out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from arrears.channels.telephony.port import CallOutcome, CallRequest
from tests.telephony_fixtures import KAMAILIO, KamailioProxy, SipExchange, requires_sip

pytestmark = [
    requires_sip,
    pytest.mark.skipif(KAMAILIO is None, reason="needs kamailio; .ci/run installs it"),
]


@pytest.fixture
def pbx(sip_exchange: SipExchange) -> Iterator[KamailioProxy]:
    phones = {
        "1301": sip_exchange.phone("answer", 1500),
        "1302": sip_exchange.phone("no_answer"),
        "1303": sip_exchange.phone("busy"),
    }
    proxy = KamailioProxy(sip_exchange.workdir / "kamailio", phones)
    sip_exchange.routes.default = proxy.uri_template
    yield proxy
    proxy.stop()


def test_calls_through_the_pbx_end_as_the_phones_behind_it_make_them_end(
    sip_exchange: SipExchange, pbx: KamailioProxy
) -> None:
    dialer = sip_exchange.dialer
    expected = {
        "13010000001": CallOutcome.ANSWERED,
        "13020000002": CallOutcome.NO_ANSWER,
        "13030000003": CallOutcome.BUSY,
        "13040000004": CallOutcome.FAILED,
    }
    for i, (number, outcome) in enumerate(expected.items()):
        dialer.dial(CallRequest(f"p{i}", number, "agent1", 1.5))
        result = dialer.wait(f"p{i}", timeout=20)
        assert result is not None and result.outcome is outcome, (number, result)
        if outcome is CallOutcome.ANSWERED:
            assert result.recording is not None
            assert abs(result.recording.duration_ms - 1500) <= 1000
        if outcome is CallOutcome.FAILED:
            assert result.reason.startswith("404")
