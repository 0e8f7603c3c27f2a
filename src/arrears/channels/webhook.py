"""Push notifications and IVR (robocalls) through the lender's own backend: an HTTP POST of JSON,
signed with HMAC-SHA256 over the timestamp and the body.

    POST <url>
    Content-Type: application/json
    Idempotency-Key: arrears-123
    X-Arrears-Signature: t=1767225600,v1=<hex HMAC-SHA256(secret, "1767225600." + body)>

The receiver recomputes the signature (`verify_signature`), refuses a stale timestamp, and
de-duplicates by `key` (the same for every attempt at one message), which makes the channel
`resend_safe`. 2xx -> Accepted (provider id: the response JSON's `id`, else the key); 408, 429
and 5xx -> ChannelUnavailable; any other 4xx -> MessageRejected with the response text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from arrears.channels.base import (
    Accepted,
    ChannelEvent,
    ChannelUnavailable,
    DeliveryUncertain,
    MessageRejected,
    OutgoingMessage,
    SendOutcome,
)

SIGNATURE_HEADER = "X-Arrears-Signature"
TOLERANCE_SECONDS = 300


class WebhookSignatureInvalid(ValueError):
    """A request whose signature header is missing, malformed, stale or does not match."""


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header's value for a body sent at `timestamp` (Unix seconds)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: bytes,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """What a receiving backend does with a request: raises WebhookSignatureInvalid unless the
    header carries a fresh timestamp and a matching `v1` signature."""
    if not header:
        raise WebhookSignatureInvalid(f"no {SIGNATURE_HEADER} header")
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError) as exc:
        raise WebhookSignatureInvalid(f"{SIGNATURE_HEADER} has no timestamp t=…") from exc
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > tolerance:
        raise WebhookSignatureInvalid(
            f"timestamp {timestamp} is more than {tolerance}s from now (replayed or clock skew)"
        )
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    if not any(hmac.compare_digest(expected, v) for v in fields.get("v1", [])):
        raise WebhookSignatureInvalid("signature does not match the body (wrong secret?)")


@dataclass
class WebhookSettings:
    url: str
    secret: bytes
    kind: str = "push"  # push | ivr
    timeout: float = 10.0
    callback_number: str = ""  # ivr: the number the script offers to call back
    lender_name: Mapping[str, str] = field(default_factory=dict)
    # the receiver de-duplicates by `key`: a message whose fate is unknown may be sent again
    resend_safe: bool = True


def payload(msg: OutgoingMessage, settings: WebhookSettings) -> dict[str, Any]:
    """The JSON document posted for one message."""
    common: dict[str, Any] = {
        "key": msg.key,
        "outbox_id": msg.outbox_id,
        "kind": settings.kind,
        "to": msg.to,
        "language": msg.language,
        "audience": msg.audience,
        "template": msg.template,
    }
    if msg.meta:
        common["meta"] = dict(msg.meta)
    if settings.kind == "ivr":
        lender = settings.lender_name.get(msg.language) or next(
            iter(settings.lender_name.values()), ""
        )
        return {
            **common,
            "script": msg.body,
            "callback_number": settings.callback_number,
            "caller_name": lender,
        }
    return {**common, "title": msg.subject, "body": msg.body}


def _provider_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, Mapping):
        for name in ("id", "message_id", "provider_id", "call_id"):
            if data.get(name):
                return str(data[name])
    return None


class WebhookChannel:
    """Push (`kind: push`) or IVR (`kind: ivr`) through a signed HTTP POST per message."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        name: str = "push",
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.resend_safe = settings.resend_safe
        self.clock = clock
        self._transport = transport
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.settings.timeout,
                transport=self._transport,
                headers={"User-Agent": "arrears-dispatch"},
            )
        return self._client

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        return [self._send(m) for m in messages]

    def _send(self, msg: OutgoingMessage) -> SendOutcome:
        body = json.dumps(payload(msg, self.settings), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": msg.key,
            SIGNATURE_HEADER: sign(self.settings.secret, body, int(self.clock())),
        }
        where = f"{self.settings.kind} endpoint {self.settings.url}"
        try:
            response = self._http().post(self.settings.url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return ChannelUnavailable(f"cannot reach {where}: {exc!r}")
        except httpx.TransportError as exc:
            # the request may have arrived: only a receiver that de-duplicates may see it again
            if self.resend_safe:
                return ChannelUnavailable(f"{where} did not answer ({exc!r}); will resend")
            return DeliveryUncertain(f"{where} did not answer after the request ({exc!r})")
        status = response.status_code
        if 200 <= status < 300:
            return Accepted((_provider_id(response) or msg.key,))
        reason = f"{status} {response.text.strip()[:500]}".strip()
        if status in (408, 429) or status >= 500:
            return ChannelUnavailable(f"{where} answered {reason}")
        if status in (401, 403):
            return MessageRejected(
                f"{where} refused the request: {reason} (check secret_env: the signing secret "
                "must match the receiver's)"
            )
        return MessageRejected(f"{where} refused the message: {reason}")

    def poll_events(self) -> list[ChannelEvent]:
        return []

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
