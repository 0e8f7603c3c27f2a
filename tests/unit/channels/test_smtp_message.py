"""The MIME message the SMTP channel builds: parts, headers and the one-click rule."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from arrears.channels.base import OutgoingMessage
from arrears.channels.smtp import SmtpSettings, build_email, message_id, unsubscribe_token

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def msg(html: str | None = None, subject: str | None = "还款提醒") -> OutgoingMessage:
    return OutgoingMessage(
        outbox_id=42,
        channel="email",
        to="wang@example.cn",
        language="zh-CN",
        audience="borrower",
        template="reminder",
        body="王芳您好：\n\n请查看账户。",
        subject=subject,
        html=html,
    )


def roundtrip(settings: SmtpSettings, message: OutgoingMessage):
    raw = build_email(message, settings, now=AT).as_bytes(policy=policy.SMTP)
    assert raw.isascii()  # Chinese travels encoded, through any relay
    return message_from_bytes(raw, policy=policy.default)


def test_text_only_without_html_and_no_unsubscribe_headers_unless_configured():
    got = roundtrip(SmtpSettings(host="h", sender="billing@example.cn"), msg())
    assert got.get_content_type() == "text/plain"
    assert got["List-Unsubscribe"] is None and got["List-Unsubscribe-Post"] is None
    assert got["Message-ID"] == "<arrears-42@example.cn>"
    assert got["Date"] == "Mon, 02 Mar 2026 01:00:00 +0000"
    assert str(got["Subject"]) == "还款提醒"


def test_one_click_only_with_an_https_url():
    mailto_only = SmtpSettings(host="h", sender="b@example.cn", unsubscribe_mailto="u@example.cn")
    got = roundtrip(mailto_only, msg("<p>x</p>"))
    assert got.get_content_type() == "multipart/alternative"
    assert got["List-Unsubscribe"].strip() == (
        "<mailto:u@example.cn?subject=unsubscribe%20arrears-42>"
    )
    assert got["List-Unsubscribe-Post"] is None  # RFC 8058: one-click needs https
    plain_http = SmtpSettings(
        host="h", sender="b@example.cn", unsubscribe_url="http://x.example.cn/u/{key}"
    )
    got = roundtrip(plain_http, msg())
    assert got["List-Unsubscribe"].strip() == "<http://x.example.cn/u/arrears-42>"
    assert got["List-Unsubscribe-Post"] is None


def test_ids_and_tokens_are_stable_per_key_and_secret():
    assert message_id("arrears-42", "mail.example.cn") == "<arrears-42@mail.example.cn>"
    token = unsubscribe_token("arrears-42", b"k1")
    assert token == unsubscribe_token("arrears-42", b"k1") and len(token) == 32
    assert token != unsubscribe_token("arrears-43", b"k1")
    assert token != unsubscribe_token("arrears-42", b"k2")


def test_subject_falls_back_to_the_senders_name():
    settings = SmtpSettings(host="h", sender="b@example.cn", sender_name={"zh-CN": "示例消费金融"})
    got = roundtrip(settings, msg(subject=None))
    assert str(got["Subject"]) == "示例消费金融"


def test_parts_are_seven_bit_safe_without_8bitmime():
    english = OutgoingMessage(
        outbox_id=7,
        channel="email",
        to="alice@example.com",
        language="en",
        audience="borrower",
        template="reminder",
        body="Dear Alice,\n\nPlease see your account.",
        subject="Your account",
        html="<p>" + "x" * 2000 + "</p>",  # one line longer than SMTP allows
    )
    got = roundtrip(SmtpSettings(host="h", sender="b@example.cn"), english)
    text, html = got.iter_parts()
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert html.get_content().rstrip("\r\n") == english.html  # soft breaks undone
    raw = build_email(english, SmtpSettings(host="h", sender="b@example.cn")).as_bytes(
        policy=policy.SMTP
    )
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    chinese = roundtrip(SmtpSettings(host="h", sender="b@example.cn"), msg("<p>王芳</p>"))
    assert [p["Content-Transfer-Encoding"] for p in chinese.iter_parts()] == ["base64"] * 2
