"""A cloud call centre behind the dialler port: calls start with a signed POST, and the call
centre reports each call's end with a signed callback (the usual shape of Chinese cloud
contact-centre APIs; adapt `start_payload`/`result_of` to the vendor's field names).

Start (platform → call centre), signed like every webhook of the platform
(`X-Arrears-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "<t>." + body)>`):

    POST <url>
    {"call_id": "…", "to": "+8613800000001", "agent": "agent1",
     "max_ring_seconds": 30, "callback_url": "https://collections.example.cn/…/calls"}

    2xx: accepted (the call rings); anything else: DialerUnavailable with the status.

Hang up: `POST <url>/<call_id>/hangup` (signed, empty JSON object).

Result (call centre → platform), signed with the same secret, to `callback_url`; the edge that
receives it passes the raw body and the header to `WebhookDialer.handle_callback`:

    {"call_id": "…", "outcome": "answered|no_answer|busy|rejected|failed",
     "answered_at": "2026-01-05T02:00:03Z" | null, "ended_at": "2026-01-05T02:01:10Z",
     "reason": "…", "recording_url": "https://…/rec.wav" | null}

The recording is fetched from `recording_url` once and kept in the platform's recording store,
with its SHA-256, like a softphone's.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from arrears.channels.telephony.port import (
    CallHandle,
    CallOutcome,
    CallRequest,
    CallResult,
    CallUnknown,
    DialerUnavailable,
    OnCallEnd,
)
from arrears.channels.telephony.recordings import RecordingStore
from arrears.channels.webhook import SIGNATURE_HEADER, sign, verify_signature


class CallbackInvalid(ValueError):
    """A result callback that is not a JSON object naming a known call with a known outcome."""


def _moment(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def start_payload(request: CallRequest, callback_url: str) -> dict[str, Any]:
    return {
        "call_id": request.call_id,
        "to": request.target,
        "agent": request.agent,
        "max_ring_seconds": request.max_ring_seconds,
        "callback_url": callback_url,
    }


class WebhookDialer:
    """The `Dialer` on a webhook-driven cloud call centre."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        callback_url: str,
        recordings: RecordingStore,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url.rstrip("/")
        self.secret = secret
        self.callback_url = callback_url
        self.recordings = recordings
        self.client = client or httpx.Client(timeout=10.0)
        self.clock = clock
        self.lock = threading.Condition()
        self.pending: dict[str, tuple[CallRequest, OnCallEnd | None, datetime]] = {}
        self.results: dict[str, CallResult] = {}

    def _post(self, url: str, doc: dict[str, Any]) -> httpx.Response:
        body = json.dumps(doc, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body, int(self.clock())),
        }
        try:
            return self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DialerUnavailable(f"the call centre is unreachable: {exc}") from exc

    def dial(self, request: CallRequest, on_end: OnCallEnd | None = None) -> CallHandle:
        started = datetime.fromtimestamp(self.clock(), UTC)
        with self.lock:
            if request.call_id in self.pending or request.call_id in self.results:
                raise ValueError(f"call {request.call_id!r} was dialled already")
            self.pending[request.call_id] = (request, on_end, started)
        response = self._post(self.url, start_payload(request, self.callback_url))
        if not response.is_success:
            with self.lock:
                self.pending.pop(request.call_id, None)
            raise DialerUnavailable(
                f"the call centre refused the call: HTTP {response.status_code} "
                f"{response.text[:200]}"
            )
        return CallHandle(request.call_id, request.agent, started)

    def hangup(self, call_id: str) -> None:
        with self.lock:
            if call_id not in self.pending and call_id not in self.results:
                raise CallUnknown(call_id)
            if call_id in self.results:
                return
        self._post(f"{self.url}/{call_id}/hangup", {})

    def handle_callback(self, body: bytes, signature: str | None) -> CallResult:
        """A result callback: verified, its recording fetched and stored, the call finished
        (its `on_end` called). Raises WebhookSignatureInvalid, CallbackInvalid. A repeated
        callback returns the result already recorded; the result of a call dialled before this
        process started is returned too (no `on_end` to call: `services.calls.receive_call_result`
        records it)."""
        verify_signature(self.secret, signature, body, now=self.clock())
        try:
            doc = json.loads(body)
            call_id = str(doc["call_id"])
            outcome = CallOutcome(doc["outcome"])
            ended = _moment(doc.get("ended_at"))
            answered = _moment(doc.get("answered_at"))
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackInvalid(f"the call centre's result cannot be read: {exc}") from exc
        with self.lock:
            if call_id in self.results:
                return self.results[call_id]
            if call_id in self.pending:
                _request, on_end, started = self.pending[call_id]
            else:  # dialled before a restart: the signed result still ends the call
                on_end = None
                started = (
                    _moment(doc.get("started_at"))
                    or answered
                    or ended
                    or datetime.fromtimestamp(self.clock(), UTC)
                )
        recording = None
        if doc.get("recording_url"):
            recording = self._fetch_recording(str(doc["recording_url"]), call_id, started)
        result = CallResult(
            call_id=call_id,
            outcome=outcome,
            started_at=started,
            answered_at=answered,
            ended_at=ended or datetime.fromtimestamp(self.clock(), UTC),
            reason=str(doc.get("reason") or ""),
            recording=recording,
        )
        with self.lock:
            self.pending.pop(call_id, None)
            self.results[call_id] = result
            self.lock.notify_all()
        if on_end is not None:
            on_end(result)
        return result

    def _fetch_recording(self, url: str, call_id: str, at: datetime) -> Any:
        try:
            response = self.client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise DialerUnavailable(f"the call's recording cannot be fetched: {exc}") from exc
        with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as tmp:
            tmp.write(response.content)
        return self.recordings.put(call_id, Path(tmp.name), at)

    def result(self, call_id: str) -> CallResult | None:
        with self.lock:
            if call_id not in self.pending and call_id not in self.results:
                raise CallUnknown(call_id)
            return self.results.get(call_id)

    def wait(self, call_id: str, timeout: float | None = None) -> CallResult | None:
        with self.lock:
            if call_id not in self.pending and call_id not in self.results:
                raise CallUnknown(call_id)
            self.lock.wait_for(lambda: call_id in self.results, timeout)
            return self.results.get(call_id)

    def close(self) -> None:
        self.client.close()
