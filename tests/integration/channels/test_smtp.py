"""The SMTP channel against a real SMTP server (aiosmtpd) on loopback: MIME structure and
headers, Chinese text, refusals by code, one connection per batch and a reconnect, STARTTLS with
login — and the whole dispatcher sending an email outbox row on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, select

from arrears.channels.base import (
    Accepted,
    ChannelUnavailable,
    DeliveryUncertain,
    MessageRejected,
    OutgoingMessage,
)
from arrears.channels.config import ChannelConfigInvalid, parse_channels
from arrears.channels.smtp import (
    SmtpChannel,
    SmtpLoginRefused,
    SmtpSettings,
    SmtpStartTlsUnavailable,
    unsubscribe_token,
)
from arrears.compliance.templates import text_to_html
from arrears.privacy.keyring import KeyRing
from arrears.services.dispatch import AllowAll, dispatch_once
from arrears.store import tables as t
from tests.integration.channels.outbox import AT, queue_messages

NOW = AT + dt.timedelta(minutes=5)


class Mailbox:
    """An aiosmtpd handler that keeps what it receives and refuses what it is told to."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self.sessions: list[int] = []  # the connection of every message received
        self.refuse: dict[str, str] = {}  # recipient -> reply
        self.drop_next_mail = 0  # close the connection at the next MAIL FROM, this many times
        self.drop_after_data = False

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.drop_next_mail:
            self.drop_next_mail -= 1
            server.transport.close()
            return "421 closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.drop_after_data:
            server.transport.close()
            return "250 never heard"
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        self.sessions.append(id(session))
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def smtp_server(mailbox: Mailbox, **kw: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kw)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def port(mailbox: Mailbox) -> Iterator[int]:
    with smtp_server(mailbox) as p:
        yield p


def settings(port: int, **kw: Any) -> SmtpSettings:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "billing@example.cn",
        "sender_name": {"zh-CN": "示例消费金融", "en": "Example Finance"},
        "unsubscribe_mailto": "unsubscribe@example.cn",
        "unsubscribe_url": "https://pay.example.cn/unsubscribe/{token}",
        "unsubscribe_secret": b"s3cret",
        "timeout": 5.0,
    }
    base.update(kw)
    return SmtpSettings(**base)


def email(outbox_id: int, to: str, *, language: str = "zh-CN", body: str | None = None):
    text = body or "王芳您好：\n\n您的账户有¥1,234.50待还。\nhttps://pay.example.cn/b/abc"
    return OutgoingMessage(
        outbox_id=outbox_id,
        channel="email",
        to=to,
        language=language,
        audience="borrower",
        template="reminder",
        body=text,
        subject="示例消费金融：账户待还款提醒" if language == "zh-CN" else "Your account",
        html=text_to_html(text, lang=language),
    )


def test_email_arrives_as_text_and_html_with_headers(mailbox: Mailbox, port: int):
    channel = SmtpChannel(settings(port))
    out = channel.send_batch(
        [
            email(7, "wang@example.cn"),
            email(
                8,
                "alice@example.com",
                language="en",
                body="Dear Alice,\n.\nA line with a dot above.",
            ),
        ]
    )
    channel.close()
    assert out == [
        Accepted(("arrears-7@example.cn",)),
        Accepted(("arrears-8@example.cn",)),
    ]
    assert [r[1] for r in mailbox.received] == [["wang@example.cn"], ["alice@example.com"]]
    sender, _, zh = mailbox.received[0]
    assert sender == "billing@example.cn"
    assert zh.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in zh.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text_part = zh.get_body(("plain",))
    html_part = zh.get_body(("html",))
    assert text_part is not None and html_part is not None
    # Chinese subject, sender name and both bodies decode back exactly
    assert str(zh["Subject"]) == "示例消费金融：账户待还款提醒"
    assert zh["From"].addresses[0].display_name == "示例消费金融"
    # (text parts travel with CRLF line ends, MIME's canonical form)
    assert text_part.get_content().replace("\r\n", "\n").rstrip("\n") == email(7, "x@y").body
    assert "您的账户有¥1,234.50待还。" in html_part.get_content()
    assert '<a href="https://pay.example.cn/b/abc">' in html_part.get_content()
    assert zh["Message-ID"] == "<arrears-7@example.cn>"
    token = unsubscribe_token("arrears-7", b"s3cret")
    assert zh["List-Unsubscribe"].strip() == (
        "<mailto:unsubscribe@example.cn?subject=unsubscribe%20arrears-7>, "
        f"<https://pay.example.cn/unsubscribe/{token}>"
    )
    assert zh["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert zh["Content-Language"] == "zh-CN"
    # a line holding a single dot survives SMTP's dot-stuffing
    en = mailbox.received[1][2]
    assert en.get_body(("plain",)).get_content().splitlines()[1] == "."  # type: ignore[union-attr]
    assert en["From"].addresses[0].display_name == "Example Finance"
    # one connection for the batch
    assert len(set(mailbox.sessions)) == 1 and channel.connections == 1


def test_message_id_is_the_same_when_a_message_is_sent_again(mailbox: Mailbox, port: int):
    channel = SmtpChannel(settings(port, message_id_domain="mail.example.cn"))
    channel.send_batch([email(41, "wang@example.cn")])
    channel.send_batch([email(41, "wang@example.cn")])
    channel.close()
    ids = [m["Message-ID"] for _, _, m in mailbox.received]
    assert ids == ["<arrears-41@mail.example.cn>"] * 2


def test_refused_recipient_is_permanent_with_the_servers_reason(mailbox: Mailbox, port: int):
    mailbox.refuse["gone@example.cn"] = "550 5.1.1 <gone@example.cn>: mailbox unavailable"
    mailbox.refuse["busy@example.cn"] = "451 4.3.0 greylisted, try again later"
    channel = SmtpChannel(settings(port))
    out = channel.send_batch(
        [
            email(1, "gone@example.cn"),
            email(2, "busy@example.cn"),
            email(3, "wang@example.cn"),
            email(4, "not-an-address"),
        ]
    )
    channel.close()
    assert isinstance(out[0], MessageRejected) and not isinstance(out[0], ChannelUnavailable)
    assert "550 5.1.1 <gone@example.cn>: mailbox unavailable" in out[0].reason
    assert isinstance(out[1], ChannelUnavailable)
    assert "451 4.3.0 greylisted" in out[1].reason
    # a refusal does not spoil the transaction of the next message on the same connection
    assert out[2] == Accepted(("arrears-3@example.cn",))
    assert isinstance(out[3], MessageRejected)
    assert [r[1] for r in mailbox.received] == [["wang@example.cn"]]
    assert len(set(mailbox.sessions)) == 1


def test_reconnects_once_when_the_server_drops_the_connection(mailbox: Mailbox, port: int):
    channel = SmtpChannel(settings(port))
    assert isinstance(channel.send_batch([email(1, "a@example.cn")])[0], Accepted)
    mailbox.drop_next_mail = 1  # e.g. the server's idle timeout between batches
    out = channel.send_batch([email(2, "b@example.cn"), email(3, "c@example.cn")])
    assert all(isinstance(o, Accepted) for o in out)
    assert channel.connections == 2
    assert [r[1] for r in mailbox.received] == [
        ["a@example.cn"],
        ["b@example.cn"],
        ["c@example.cn"],
    ]
    # dropped again right after reconnecting: the rest of the batch waits (transient)
    mailbox.drop_next_mail = 2
    out = channel.send_batch([email(4, "d@example.cn"), email(5, "e@example.cn")])
    channel.close()
    assert all(type(o) is ChannelUnavailable for o in out)
    assert "dropped the connection again" in out[0].reason  # type: ignore[union-attr]
    assert len(mailbox.received) == 3


def test_an_idle_connection_is_replaced_before_the_next_batch(mailbox: Mailbox, port: int):
    ticks = iter([0.0, 0.0, 10.0, 10.0, 100.0, 100.0])
    channel = SmtpChannel(settings(port, max_idle=60.0), monotonic=lambda: next(ticks))
    for i in range(3):  # at 0 s, 10 s (reused), then 100 s (90 s idle: a new connection)
        assert isinstance(channel.send_batch([email(i, "a@example.cn")])[0], Accepted)
    channel.close()
    assert channel.connections == 2
    sessions = mailbox.sessions
    assert sessions[0] == sessions[1] != sessions[2]


def test_a_non_ascii_address_needs_smtputf8(mailbox: Mailbox):
    with smtp_server(mailbox, enable_SMTPUTF8=False) as plain_port:
        out = SmtpChannel(settings(plain_port)).send_batch([email(1, "王芳@例子.中国")])
    assert isinstance(out[0], MessageRejected) and "SMTPUTF8" in out[0].reason
    with smtp_server(mailbox, enable_SMTPUTF8=True) as port:
        channel = SmtpChannel(settings(port))
        out = channel.send_batch([email(2, "王芳@例子.中国")])
        channel.close()
    assert isinstance(out[0], Accepted)
    [(_, rcpts, got)] = mailbox.received
    assert rcpts == ["王芳@例子.中国"] and str(got["To"]) == "王芳@例子.中国"


def test_implicit_tls(mailbox: Mailbox, tmp_path: Path):
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    with smtp_server(mailbox, ssl_context=tls) as port:
        channel = SmtpChannel(settings(port, ssl=True, ca_file=str(cert)))
        assert isinstance(channel.send_batch([email(1, "a@example.cn")])[0], Accepted)
        channel.close()
    assert [r[1] for r in mailbox.received] == [["a@example.cn"]]


def test_connection_lost_after_the_message_was_written_is_uncertain(mailbox: Mailbox, port: int):
    mailbox.drop_after_data = True
    channel = SmtpChannel(settings(port))
    out = channel.send_batch([email(9, "a@example.cn")])
    channel.close()
    assert isinstance(out[0], DeliveryUncertain)
    assert "<arrears-9@example.cn>" in out[0].reason


def test_unreachable_server_is_transient_for_the_whole_batch():
    channel = SmtpChannel(settings(free_port(), timeout=1.0))
    out = channel.send_batch([email(1, "a@example.cn"), email(2, "b@example.cn")])
    assert len(out) == 2 and all(type(o) is ChannelUnavailable for o in out)
    assert "cannot connect" in out[0].reason  # type: ignore[union-attr]


# --- STARTTLS and login --------------------------------------------------------------------


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"arrears", b"right")
    return AuthResult(success=ok, handled=False)


def test_starttls_and_login(mailbox: Mailbox, tmp_path: Path):
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    kw = {
        "tls_context": tls,
        "require_starttls": True,
        "authenticator": authenticator,
        "auth_required": True,
    }
    with smtp_server(mailbox, **kw) as port:
        good = SmtpChannel(
            settings(port, starttls=True, ca_file=str(cert), username="arrears", password="right")
        )
        assert isinstance(good.send_batch([email(1, "a@example.cn")])[0], Accepted)
        good.close()
        wrong = SmtpChannel(
            settings(port, starttls=True, ca_file=str(cert), username="arrears", password="wrong")
        )
        out = wrong.send_batch([email(2, "b@example.cn")])
        assert isinstance(out[0], SmtpLoginRefused) and "password_env" in out[0].reason
        # without TLS the server will not take the mail; the channel says what to set
        plain = SmtpChannel(settings(port))
        out = plain.send_batch([email(3, "c@example.cn")])
        plain.close()
        assert isinstance(out[0], ChannelUnavailable)
        # a certificate the channel does not trust: nothing is sent
        untrusted = SmtpChannel(settings(port, starttls=True, username="arrears", password="right"))
        out = untrusted.send_batch([email(4, "d@example.cn")])
        assert (
            isinstance(out[0], ChannelUnavailable) and "CERTIFICATE_VERIFY_FAILED" in out[0].reason
        )
    assert [r[1] for r in mailbox.received] == [["a@example.cn"]]


def test_starttls_required_but_not_offered(mailbox: Mailbox, port: int):
    out = SmtpChannel(settings(port, starttls=True)).send_batch([email(1, "a@example.cn")])
    assert isinstance(out[0], SmtpStartTlsUnavailable)
    assert "does not offer STARTTLS" in out[0].reason
    assert mailbox.received == []


# --- from the channels file, through the dispatcher -----------------------------------------


def test_channels_file_builds_the_smtp_adapter(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "pw")
    monkeypatch.setenv("TEST_UNSUBSCRIBE_SECRET", "a-long-random-secret")
    built = parse_channels(
        {
            "lender_name": {"zh-CN": "示例消费金融", "en": "Example Finance"},
            "channels": {
                "email": {
                    "kind": "smtp",
                    "host": "smtp.example.cn",
                    "port": 587,
                    "starttls": True,
                    "username": "arrears",
                    "password_env": "TEST_SMTP_PASSWORD",
                    "sender": "billing@example.cn",
                    "unsubscribe_url": "https://pay.example.cn/u/{token}",
                    "unsubscribe_secret_env": "TEST_UNSUBSCRIBE_SECRET",
                }
            },
        }
    ).build()
    adapter = built.get("email")
    assert isinstance(adapter, SmtpChannel)
    s = adapter.settings
    assert (s.host, s.port, s.starttls, s.username, s.password) == (
        "smtp.example.cn",
        587,
        True,
        "arrears",
        "pw",
    )
    assert s.sender_name == {"zh-CN": "示例消费金融", "en": "Example Finance"}
    assert s.unsubscribe_secret == b"a-long-random-secret"
    with pytest.raises(ChannelConfigInvalid, match="sender"):
        parse_channels({"channels": {"email": {"kind": "smtp", "host": "x"}}}).build()
    guessable = {"kind": "smtp", "host": "x", "sender": "b@example.cn"}
    guessable["unsubscribe_url"] = "https://pay.example.cn/u/{token}"
    with pytest.raises(ChannelConfigInvalid, match="unsubscribe_secret_env"):
        parse_channels({"channels": {"email": guessable}}).build()


def test_dispatcher_sends_an_email_outbox_row(
    db: Engine, keyring: KeyRing, mailbox: Mailbox, port: int
):
    with db.begin() as conn:
        [oid] = queue_messages(
            conn,
            keyring,
            1,
            channel="email",
            template="reminder",
            name="王芳",
            email="wang.fang@example.cn",
        )
    channel = SmtpChannel(settings(port))
    report = dispatch_once(db, keyring, {"email": channel}, NOW, gate=AllowAll())
    channel.close()
    assert report.sent == 1 and report.by_channel == {"email": 1}
    [(sender, rcpts, got)] = mailbox.received
    assert (sender, rcpts) == ("billing@example.cn", ["wang.fang@example.cn"])
    assert str(got["Subject"]) == "示例消费金融：账户待还款提醒"
    assert got["Message-ID"] == f"<arrears-{oid}@example.cn>"
    plain = got.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = got.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert plain.startswith("王芳您好：") and "¥1,234.50" in plain
    assert "王芳您好：" in html and "<p>" in html
    with db.connect() as conn:
        row = conn.execute(select(t.outbox).where(t.outbox.c.id == oid)).one()
        assert (row.status, row.provider_id) == ("sent", f"arrears-{oid}@example.cn")
        assert conn.execute(select(t.actions.c.status)).scalar_one() == "sent"
