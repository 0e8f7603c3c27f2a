"""The channels file builds every kind of adapter, and says what to fix when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from arrears.channels.config import ChannelConfigInvalid, parse_channels
from arrears.channels.letter import LetterChannel, LetterFontNotFound
from arrears.channels.smtp import SmtpChannel
from arrears.channels.webhook import WebhookChannel


def build(channels: dict):
    return parse_channels({"channels": channels}).build()


def test_unknown_kind_names_every_kind():
    with pytest.raises(ChannelConfigInvalid, match="file, smpp, smtp, push, ivr, letter"):
        build({"fax": {"kind": "fax"}})


@pytest.mark.parametrize(
    ("extra", "port"), [({}, 25), ({"starttls": True}, 587), ({"ssl": True}, 465)]
)
def test_smtp_port_follows_the_tls_mode(extra: dict, port: int):
    adapter = build({"email": {"kind": "smtp", "host": "h", "sender": "a@example.cn", **extra}})
    assert isinstance(adapter.get("email"), SmtpChannel)
    assert adapter.get("email").settings.port == port  # type: ignore[attr-defined]


def test_smtp_mistakes():
    with pytest.raises(ChannelConfigInvalid, match="either starttls"):
        build({"email": {"kind": "smtp", "host": "h", "sender": "a@b", "starttls": 1, "ssl": 1}})
    with pytest.raises(ChannelConfigInvalid, match="needs 'host'"):
        build({"email": {"kind": "smtp", "sender": "a@b"}})
    with pytest.raises(ChannelConfigInvalid, match="SMTP_PW_NOT_SET is not set"):
        build(
            {
                "email": {
                    "kind": "smtp",
                    "host": "h",
                    "sender": "a@b",
                    "password_env": "SMTP_PW_NOT_SET",
                }
            }
        )


def test_webhook_mistakes():
    with pytest.raises(ChannelConfigInvalid, match="must start with https://"):
        build({"push": {"kind": "push", "url": "app.example.cn/push", "secret": "s"}})
    with pytest.raises(ChannelConfigInvalid, match="secret_env"):
        build({"voice": {"kind": "ivr", "url": "https://ivr.example.cn"}})
    built = build({"voice": {"kind": "ivr", "url": "https://ivr.example.cn", "secret": "s"}})
    voice = built.get("voice")
    assert isinstance(voice, WebhookChannel) and voice.settings.kind == "ivr"


def test_letter_font_missing_names_the_setting(tmp_path: Path):
    spec = {"kind": "letter", "directory": str(tmp_path), "font_path": str(tmp_path / "x.ttf")}
    with pytest.raises(LetterFontNotFound, match="font_path") as caught:
        build({"letter": spec})
    assert isinstance(caught.value, ChannelConfigInvalid)  # a channels-file problem like any
    spec.pop("font_path")
    spec["timezone"] = "Europe/London"
    letter = build({"letter": spec}).get("letter")
    assert isinstance(letter, LetterChannel) and letter.settings.timezone == "Europe/London"
