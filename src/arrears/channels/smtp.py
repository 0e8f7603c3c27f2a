"""Email over SMTP (stdlib `smtplib`): multipart/alternative text + HTML, one-click unsubscribe
headers, a `Message-ID` made from the message key, one connection per batch (reconnected once
when the server dropped it).

One message's fate per outcome: 250 after DATA -> Accepted (provider id: the Message-ID);
4xx anywhere -> ChannelUnavailable (retry later); 5xx for the recipient or the content ->
MessageRejected with the server's words; the connection lost after the message text was written
but before the server answered -> DeliveryUncertain (never re-sent blindly). A re-sent message
keeps its Message-ID, so the mailbox (and a person) can recognise it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from arrears.channels.base import (
    Accepted,
    ChannelError,
    ChannelEvent,
    ChannelUnavailable,
    DeliveryUncertain,
    MessageRejected,
    OutgoingMessage,
    SendOutcome,
)


class SmtpLoginRefused(ChannelUnavailable):
    """The server refused the login: fix `username` / `password_env`; messages stay pending."""


class SmtpStartTlsUnavailable(ChannelUnavailable):
    """`starttls: true` but the server does not offer STARTTLS: nothing is sent in the clear."""


@dataclass
class SmtpSettings:
    host: str
    sender: str  # the From address, e.g. billing@example.cn
    port: int = 25
    starttls: bool = False
    ssl: bool = False  # implicit TLS (port 465)
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # a private CA to trust for TLS (default: the system's)
    sender_name: Mapping[str, str] = field(default_factory=dict)  # language -> display name
    reply_to: str | None = None
    unsubscribe_mailto: str | None = None  # e.g. unsubscribe@example.cn
    # e.g. https://pay.example.cn/unsubscribe/{token}; `{key}` and `{token}` are filled in
    unsubscribe_url: str | None = None
    unsubscribe_secret: bytes = b""
    message_id_domain: str | None = None  # default: the sender's domain
    local_hostname: str | None = None
    timeout: float = 30.0
    # a connection idle longer than this is closed before the next batch rather than trusted
    # (servers and NAT drop idle connections, sometimes silently)
    max_idle: float = 60.0

    @property
    def domain(self) -> str:
        return self.message_id_domain or self.sender.rpartition("@")[2] or "localhost"


def message_id(key: str, domain: str) -> str:
    """The Message-ID of a message key: the same every time the message is sent."""
    return f"<{key}@{domain}>"


def unsubscribe_token(key: str, secret: bytes) -> str:
    """An unguessable token for a message's unsubscribe link (the key alone is guessable)."""
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()[:32]


def build_email(
    msg: OutgoingMessage, settings: SmtpSettings, *, now: datetime | None = None
) -> EmailMessage:
    """The MIME message for one outgoing email (multipart/alternative when there is HTML)."""
    email = EmailMessage(policy=policy.SMTP)
    display = settings.sender_name.get(msg.language) or next(
        iter(settings.sender_name.values()), ""
    )
    local, _, domain = settings.sender.rpartition("@")
    email["From"] = Address(display_name=display, username=local, domain=domain)
    email["To"] = msg.to
    if settings.reply_to:
        email["Reply-To"] = settings.reply_to
    email["Subject"] = msg.subject or display or settings.sender
    email["Date"] = format_datetime(now or datetime.now(UTC))
    email["Message-ID"] = message_id(msg.key, settings.domain)
    unsubscribe = []
    if settings.unsubscribe_mailto:
        subject = quote(f"unsubscribe {msg.key}")
        unsubscribe.append(f"<mailto:{settings.unsubscribe_mailto}?subject={subject}>")
    if settings.unsubscribe_url:
        url = settings.unsubscribe_url.format(
            key=msg.key, token=unsubscribe_token(msg.key, settings.unsubscribe_secret)
        )
        unsubscribe.append(f"<{url}>")
    if unsubscribe:
        email["List-Unsubscribe"] = ", ".join(unsubscribe)
        if settings.unsubscribe_url and settings.unsubscribe_url.startswith("https://"):
            # RFC 8058: one-click needs an https URI to POST to
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(msg.body, charset="utf-8", cte=_transfer_encoding(msg.body))
    if msg.html:
        email.add_alternative(
            msg.html, subtype="html", charset="utf-8", cte=_transfer_encoding(msg.html)
        )
    for part in msg.attachments:
        maintype, _, subtype = part.content_type.partition("/")
        email.add_attachment(part.data, maintype=maintype, subtype=subtype, filename=part.filename)
    email["Content-Language"] = msg.language  # after the parts: they take Content-* headers
    return email


def _transfer_encoding(text: str) -> str:
    """7-bit safe whatever the server offers (no 8BITMIME needed): quoted-printable keeps ASCII
    readable, base64 is the shorter for Chinese."""
    return "quoted-printable" if text.isascii() else "base64"


_LEADING_DOT = re.compile(rb"(?m)^\.")


class _Disconnected(Exception):
    """The connection broke before the message text was written: safe to try again."""


class SmtpChannel:
    """Email through one SMTP server (a relay or the provider's submission endpoint)."""

    # SMTP servers do not de-duplicate by Message-ID: a message whose fate is unknown is reviewed
    resend_safe = False

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        name: str = "email",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock
        self.monotonic = monotonic
        self._last_used = monotonic()
        self.conn: smtplib.SMTP | None = None
        self.connections = 0  # connections opened (one per batch unless the server drops it)

    # -- connection -------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def connect(self) -> smtplib.SMTP:
        s = self.settings
        where = f"SMTP server {s.host}:{s.port}"
        conn: smtplib.SMTP
        try:
            if s.ssl:
                conn = smtplib.SMTP_SSL(
                    s.host,
                    s.port,
                    local_hostname=s.local_hostname,
                    timeout=s.timeout,
                    context=self._tls_context(),
                )
            else:
                conn = smtplib.SMTP(
                    s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout
                )
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelUnavailable(f"cannot connect to {where}: {exc!r}") from exc
        try:
            conn.ehlo()
            if s.starttls:
                if not conn.has_extn("starttls"):
                    raise SmtpStartTlsUnavailable(
                        f"{where} does not offer STARTTLS and the channel has starttls: true; "
                        "nothing was sent in the clear (set starttls: false only for a relay "
                        "on a trusted network)"
                    )
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if s.username:
                try:
                    conn.login(s.username, s.password or "")
                except smtplib.SMTPAuthenticationError as exc:
                    raise SmtpLoginRefused(
                        f"{where} refused the login of {s.username!r} ({exc.smtp_code} "
                        f"{_text(exc.smtp_error)}); check username and password_env"
                    ) from exc
                except smtplib.SMTPNotSupportedError as exc:
                    raise SmtpLoginRefused(
                        f"{where} offers no AUTH on this connection; set starttls: true "
                        "(most servers allow login only over TLS)"
                    ) from exc
        except ChannelError:
            _drop(conn)
            raise
        except (OSError, smtplib.SMTPException) as exc:
            _drop(conn)
            raise ChannelUnavailable(f"{where} failed while greeting: {exc!r}") from exc
        self.connections += 1
        self.conn = conn
        return conn

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # the server may already be gone
                self.conn.quit()
            _drop(self.conn)
            self.conn = None

    def flush(self) -> None:
        pass

    def poll_events(self) -> list[ChannelEvent]:
        return []

    # -- sending ----------------------------------------------------------------------------

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        if self.conn is not None and self.monotonic() - self._last_used > self.settings.max_idle:
            self.close()
        try:
            return self._send_all(messages)
        finally:
            self._last_used = self.monotonic()

    def _send_all(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        outcomes: list[SendOutcome] = []
        for index, msg in enumerate(messages):
            try:
                outcomes.append(self._send_with_retry(msg))
            except ChannelUnavailable as exc:
                # the server is unreachable: the rest of the batch waits as well
                outcomes.extend([exc] * (len(messages) - index))
                break
        return outcomes

    def _send_with_retry(self, msg: OutgoingMessage) -> SendOutcome:
        reconnected = False
        if self.conn is None:
            self.connect()
            reconnected = True
        while True:
            assert self.conn is not None
            try:
                return self._send_one(self.conn, msg)
            except _Disconnected as exc:
                _drop(self.conn)
                self.conn = None
                if reconnected:
                    raise ChannelUnavailable(
                        f"SMTP server {self.settings.host}:{self.settings.port} dropped the "
                        f"connection again: {exc}"
                    ) from exc
                self.connect()
                reconnected = True

    def _send_one(self, conn: smtplib.SMTP, msg: OutgoingMessage) -> SendOutcome:
        if "@" not in msg.to or any(ch in msg.to for ch in "\r\n<>"):
            return MessageRejected(f"not an email address: {msg.to!r}")
        utf8 = not msg.to.isascii()
        if utf8 and not conn.has_extn("smtputf8"):
            return MessageRejected(
                f"the address {msg.to!r} is not ASCII and the server does not offer SMTPUTF8"
            )
        try:
            email = build_email(msg, self.settings, now=self.clock())
            data = email.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
        except (ValueError, TypeError, UnicodeError, MessageError) as exc:
            return MessageRejected(f"cannot build the email: {exc!r}")
        try:
            code, reply = conn.mail(self.settings.sender, ["SMTPUTF8"] if utf8 else [])
            if code == 421:
                raise _Disconnected(f"421 {_text(reply)}")
            if code != 250:
                return self._refused(conn, "sender", code, reply)
            code, reply = conn.rcpt(msg.to)
            if code == 421:
                raise _Disconnected(f"421 {_text(reply)}")
            if code not in (250, 251):
                return self._refused(conn, "recipient", code, reply)
            conn.putcmd("data")
            code, reply = conn.getreply()
            if code == 421:
                raise _Disconnected(f"421 {_text(reply)}")
            if code != 354:
                return self._refused(conn, "message", code, reply)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Disconnected(repr(exc)) from exc
        # from here on the server may have the message: a lost answer is not a failure
        payload = _LEADING_DOT.sub(b"..", data)
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        try:
            conn.send(payload + b".\r\n")
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            _drop(conn)
            self.conn = None
            return DeliveryUncertain(
                f"connection lost after the message was written, before the server answered "
                f"({exc!r}); Message-ID {message_id(msg.key, self.settings.domain)}"
            )
        if code != 250:
            return self._refused(conn, "message", code, reply)
        return Accepted((message_id(msg.key, self.settings.domain)[1:-1],))

    def _refused(self, conn: smtplib.SMTP, what: str, code: int, reply: bytes) -> ChannelError:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            conn.rset()
        reason = f"{code} {_text(reply)}"
        if what == "sender" and code == 530:
            return ChannelUnavailable(
                f"the server wants a login before accepting mail ({reason}); "
                "set username and password_env"
            )
        if 400 <= code < 500:
            return ChannelUnavailable(f"{what} deferred: {reason}")
        return MessageRejected(f"{what} refused: {reason}")


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _drop(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        conn.close()
