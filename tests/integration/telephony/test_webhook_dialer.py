"""A cloud call centre behind the same port, over real HTTP on loopback: the platform starts a
call with a signed POST, the call centre reports the end with a signed callback and serves the
recording, which the platform keeps with its SHA-256. Forged callbacks change nothing."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from arrears.channels.telephony.port import CallOutcome, CallRequest, DialerUnavailable
from arrears.channels.telephony.recordings import RecordingStore
from arrears.channels.telephony.webhook import WebhookDialer
from arrears.channels.webhook import (
    SIGNATURE_HEADER,
    WebhookSignatureInvalid,
    sign,
    verify_signature,
)

SECRET = b"shared-with-the-call-centre"


def _wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * int(8000 * seconds))
    return buf.getvalue()


class CallCentre:
    """The vendor: accepts signed starts, 'places' the call, posts the signed result back."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.refuse = False
        self.auto_report = True
        centre = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                data = _wav(2.0)
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    verify_signature(SECRET, self.headers.get(SIGNATURE_HEADER), body)
                except WebhookSignatureInvalid:
                    self.send_response(401)
                    self.end_headers()
                    return
                if centre.refuse:
                    self.send_response(503)
                    self.end_headers()
                    return
                doc = json.loads(body)
                centre.starts.append(doc)
                self.send_response(202)
                self.end_headers()
                threading.Thread(target=centre.report, args=(doc,), daemon=True).start()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def report(self, doc: dict[str, Any]) -> None:
        if not self.auto_report:
            return
        body, header = self.signed_result(doc)
        httpx.post(doc["callback_url"], content=body, headers={SIGNATURE_HEADER: header}, timeout=5)

    def signed_result(self, doc: dict[str, Any]) -> tuple[bytes, str]:
        result = {
            "call_id": doc["call_id"],
            "outcome": "answered",
            "answered_at": "2026-01-16T04:00:05Z",
            "ended_at": "2026-01-16T04:00:07Z",
            "reason": "normal clearing",
            "recording_url": f"{self.url}/recordings/{doc['call_id']}.wav",
        }
        body = json.dumps(result).encode()
        return body, sign(SECRET, body, int(time.time()))


class Receiver:
    """The platform's callback endpoint, handing each request to the dialler."""

    def __init__(self) -> None:
        self.dialer: WebhookDialer | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert receiver.dialer is not None
                try:
                    receiver.dialer.handle_callback(body, self.headers.get(SIGNATURE_HEADER))
                except (WebhookSignatureInvalid, ValueError, LookupError):
                    self.send_response(400)
                else:
                    self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/calls/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[tuple[CallCentre, WebhookDialer]]:
    centre, receiver = CallCentre(), Receiver()
    dialer = WebhookDialer(
        centre.url, SECRET, callback_url=receiver.url, recordings=RecordingStore(tmp_path / "rec")
    )
    receiver.dialer = dialer
    yield centre, dialer
    dialer.close()
    centre.server.shutdown()
    receiver.server.shutdown()


def test_a_cloud_call_ends_with_a_signed_result_and_its_recording_is_kept(
    peers: tuple[CallCentre, WebhookDialer],
) -> None:
    centre, dialer = peers
    ended: list[str] = []
    dialer.dial(
        CallRequest("k1", "+8613900000002", "agent1", 20), on_end=lambda r: ended.append(r.call_id)
    )
    result = dialer.wait("k1", timeout=10)
    assert result is not None and result.outcome is CallOutcome.ANSWERED
    assert result.talk_ms == 2000 and ended == ["k1"]
    assert centre.starts[0]["to"] == "+8613900000002" and centre.starts[0]["max_ring_seconds"] == 20
    rec = result.recording
    assert rec is not None and rec.duration_ms == 2000
    data = dialer.recordings.absolute(rec.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == rec.sha256

    # a forged callback (wrong key) is refused; a repeated genuine one changes nothing
    forged = json.dumps({"call_id": "k1", "outcome": "busy", "ended_at": None}).encode()
    with pytest.raises(WebhookSignatureInvalid):
        dialer.handle_callback(forged, sign(b"guess", forged, int(time.time())))
    assert dialer.result("k1") == result


def test_a_call_centre_that_refuses_the_start_is_reported(
    peers: tuple[CallCentre, WebhookDialer],
) -> None:
    centre, dialer = peers
    centre.refuse = True
    with pytest.raises(DialerUnavailable, match="503"):
        dialer.dial(CallRequest("k2", "+8613900000002", "agent1", 20))
