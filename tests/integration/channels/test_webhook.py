"""Push and IVR through a signed HTTP POST, against a real HTTP server on loopback that checks
the signature on its own (independently of the channel's code) and answers as told."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, select

from arrears.channels.base import (
    Accepted,
    ChannelUnavailable,
    DeliveryUncertain,
    MessageRejected,
    OutgoingMessage,
)
from arrears.channels.config import ChannelConfigInvalid, parse_channels
from arrears.channels.webhook import (
    WebhookChannel,
    WebhookSettings,
    WebhookSignatureInvalid,
    sign,
    verify_signature,
)
from arrears.privacy.keyring import KeyRing
from arrears.services.dispatch import AllowAll, dispatch_once
from arrears.store import tables as t
from tests.integration.channels.outbox import AT, queue_messages

SECRET = b"the-shared-secret"


class Backend(ThreadingHTTPServer):
    """The lender's app backend: verifies `X-Arrears-Signature`, keeps what it accepts."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.answers: dict[str, tuple[int, str]] = {}  # to -> (status, body)
        self.stall: set[str] = set()  # to -> never answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/notify"


class _Handler(BaseHTTPRequestHandler):
    server: Backend

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        header = self.headers.get("X-Arrears-Signature", "")
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        expected = hmac.new(
            SECRET, parts.get("t", "").encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        fresh = parts.get("t", "").isdigit() and abs(time.time() - int(parts["t"])) < 300
        if not fresh or not hmac.compare_digest(expected, parts.get("v1", "")):
            self._answer(401, '{"error": "bad signature"}')
            return
        doc = json.loads(body)
        if doc["to"] in self.server.stall:
            time.sleep(2)
            return
        self.server.received.append(doc)
        self.server.headers_seen.append(dict(self.headers))
        status, text = self.server.answers.get(doc["to"], (200, f'{{"id": "app-{doc["key"]}"}}'))
        self._answer(status, text)


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def message(outbox_id: int, to: str, *, channel: str = "push", body: str | None = None):
    return OutgoingMessage(
        outbox_id=outbox_id,
        channel=channel,
        to=to,
        language="zh-CN",
        audience="borrower",
        template="reminder",
        body=body or "您的账户有¥1,234.50待还（已超过应还日3天），点击查看可选的还款方案。",
        subject="还款提醒",
        meta={"case_id": "17", "borrower_id": to},
    )


def test_push_is_signed_and_accepted_with_the_apps_id(backend: Backend):
    channel = WebhookChannel(WebhookSettings(url=backend.url, secret=SECRET))
    out = channel.send_batch([message(5, "B1"), message(6, "B2")])
    channel.close()
    assert out == [Accepted(("app-arrears-5",)), Accepted(("app-arrears-6",))]
    first = backend.received[0]
    assert first["key"] == "arrears-5" and first["kind"] == "push" and first["to"] == "B1"
    assert first["title"] == "还款提醒"
    assert first["body"].startswith("您的账户有¥1,234.50待还")
    assert first["meta"] == {"case_id": "17", "borrower_id": "B1"}
    assert backend.headers_seen[0]["Idempotency-Key"] == "arrears-5"
    assert channel.resend_safe


def test_a_wrong_secret_is_refused_permanently(backend: Backend):
    channel = WebhookChannel(WebhookSettings(url=backend.url, secret=b"not-the-secret"))
    [out] = channel.send_batch([message(5, "B1")])
    channel.close()
    assert isinstance(out, MessageRejected) and not isinstance(out, ChannelUnavailable)
    assert "401" in out.reason and "bad signature" in out.reason and "secret_env" in out.reason
    assert backend.received == []


def test_a_stale_signature_is_refused(backend: Backend):
    channel = WebhookChannel(
        WebhookSettings(url=backend.url, secret=SECRET), clock=lambda: time.time() - 3600
    )
    [out] = channel.send_batch([message(5, "B1")])
    channel.close()
    assert isinstance(out, MessageRejected) and backend.received == []


def test_status_codes_map_to_transient_and_permanent(backend: Backend):
    backend.answers = {
        "B-throttled": (429, '{"error": "slow down"}'),
        "B-down": (503, "maintenance"),
        "B-unknown": (404, '{"error": "no such user: B-unknown"}'),
        "B-no-id": (202, "queued"),
    }
    channel = WebhookChannel(WebhookSettings(url=backend.url, secret=SECRET))
    out = channel.send_batch(
        [
            message(1, "B-throttled"),
            message(2, "B-down"),
            message(3, "B-unknown"),
            message(4, "B-no-id"),
        ]
    )
    channel.close()
    assert type(out[0]) is ChannelUnavailable and "429" in out[0].reason
    assert type(out[1]) is ChannelUnavailable and "503 maintenance" in out[1].reason
    assert type(out[2]) is MessageRejected
    assert '404 {"error": "no such user: B-unknown"}' in out[2].reason
    assert out[3] == Accepted(("arrears-4",))  # no id in the answer: the key stands for it


def test_no_answer_is_retried_when_the_receiver_deduplicates_else_uncertain(backend: Backend):
    backend.stall.add("B-slow")
    safe = WebhookChannel(WebhookSettings(url=backend.url, secret=SECRET, timeout=0.5))
    [out] = safe.send_batch([message(1, "B-slow")])
    safe.close()
    assert type(out) is ChannelUnavailable
    unsafe = WebhookChannel(
        WebhookSettings(url=backend.url, secret=SECRET, timeout=0.5, resend_safe=False)
    )
    [out] = unsafe.send_batch([message(1, "B-slow")])
    unsafe.close()
    assert isinstance(out, DeliveryUncertain) and not unsafe.resend_safe


def test_unreachable_endpoint_is_transient():
    channel = WebhookChannel(WebhookSettings(url="http://127.0.0.1:9/notify", secret=SECRET))
    [out] = channel.send_batch([message(1, "B1")])
    assert type(out) is ChannelUnavailable and "cannot reach" in out.reason


def test_ivr_posts_the_script_language_and_callback_number(backend: Backend):
    channel = WebhookChannel(
        WebhookSettings(
            url=backend.url,
            secret=SECRET,
            kind="ivr",
            callback_number="400-000-0000",
            lender_name={"zh-CN": "示例消费金融", "en": "Example Finance"},
        ),
        name="voice",
    )
    script = "王芳您好，这里是示例消费金融。您的账户有¥1,234.50待还。"
    [out] = channel.send_batch([message(9, "+8613800000001", channel="voice", body=script)])
    channel.close()
    assert out == Accepted(("app-arrears-9",))
    [doc] = backend.received
    assert doc["kind"] == "ivr" and doc["to"] == "+8613800000001"
    assert doc["script"] == script and doc["language"] == "zh-CN"
    assert doc["callback_number"] == "400-000-0000" and doc["caller_name"] == "示例消费金融"
    assert "title" not in doc


def test_verify_signature_helper_for_receivers():
    body = b'{"key": "arrears-1"}'
    header = sign(SECRET, body, 1_767_225_600)
    verify_signature(SECRET, header, body, now=1_767_225_700)
    with pytest.raises(WebhookSignatureInvalid, match="wrong secret"):
        verify_signature(b"other", header, body, now=1_767_225_700)
    with pytest.raises(WebhookSignatureInvalid, match="wrong secret"):
        verify_signature(SECRET, header, body + b" ", now=1_767_225_700)
    with pytest.raises(WebhookSignatureInvalid, match="replayed"):
        verify_signature(SECRET, header, body, now=1_767_225_600 + 301)
    with pytest.raises(WebhookSignatureInvalid, match="timestamp"):
        verify_signature(SECRET, "v1=abc", body)
    with pytest.raises(WebhookSignatureInvalid, match="no X-Arrears-Signature"):
        verify_signature(SECRET, None, body)


def test_channels_file_builds_push_and_ivr(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TEST_PUSH_SECRET", "s1")
    built = parse_channels(
        {
            "callback_number": "400-123-4567",
            "channels": {
                "push": {
                    "kind": "push",
                    "url": "https://app.example.cn/push",
                    "secret_env": "TEST_PUSH_SECRET",
                },
                "voice": {
                    "kind": "ivr",
                    "url": "https://ivr.example.cn/calls",
                    "secret_env": "TEST_PUSH_SECRET",
                    "resend_safe": False,
                },
            },
        }
    ).build()
    push, voice = built.get("push"), built.get("voice")
    assert isinstance(push, WebhookChannel) and isinstance(voice, WebhookChannel)
    assert (push.settings.kind, push.settings.secret, push.resend_safe) == ("push", b"s1", True)
    assert (voice.settings.kind, voice.settings.callback_number) == ("ivr", "400-123-4567")
    assert not voice.resend_safe
    with pytest.raises(ChannelConfigInvalid, match="secret_env"):
        parse_channels({"channels": {"push": {"kind": "push", "url": "https://x"}}}).build()
    with pytest.raises(ChannelConfigInvalid, match="'url'"):
        parse_channels({"channels": {"push": {"kind": "push", "secret": "s"}}}).build()


def test_dispatcher_sends_a_push_outbox_row(db: Engine, keyring: KeyRing, backend: Backend):
    with db.begin() as conn:
        [oid] = queue_messages(conn, keyring, 1, channel="push", template="reminder")
    channel = WebhookChannel(WebhookSettings(url=backend.url, secret=SECRET))
    report = dispatch_once(
        db, keyring, {"push": channel}, AT + timedelta(minutes=5), gate=AllowAll()
    )
    channel.close()
    assert report.sent == 1
    [doc] = backend.received
    assert doc["key"] == f"arrears-{oid}" and doc["to"] == "B0" and doc["title"] == "还款提醒"
    assert "¥1,234.50" in doc["body"]
    with db.connect() as conn:
        row = conn.execute(select(t.outbox).where(t.outbox.c.id == oid)).one()
        assert (row.status, row.provider_id) == ("sent", f"app-arrears-{oid}")
