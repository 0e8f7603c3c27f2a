"""The file sink and the one-time-code log write recipients masked, in files only their owner
reads (0600)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from arrears.api.context import file_otp_sender
from arrears.channels.base import OutgoingMessage
from arrears.channels.filesink import FileSink

PHONE = "+8613812345678"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sink_masks_recipients_and_keeps_its_files_private(tmp_path: Path) -> None:
    old = tmp_path / "out" / "sms.jsonl"
    old.parent.mkdir()
    old.write_text("")
    old.chmod(0o644)  # made by an older version
    sink = FileSink(tmp_path / "out")
    sink.send_batch(
        [
            OutgoingMessage(1, "sms", PHONE, "zh-CN", "borrower", "t", "您好"),
            OutgoingMessage(2, "email", "wang.fang@example.com", "zh-CN", "borrower", "t", "b"),
        ]
    )
    sink.close()
    sms = (tmp_path / "out" / "sms.jsonl").read_text("utf-8")
    email = (tmp_path / "out" / "email.jsonl").read_text("utf-8")
    assert json.loads(sms)["to"] == "138****5678" and PHONE[3:] not in sms
    assert json.loads(email)["to"] == "w***@example.com" and "wang.fang" not in email
    assert _mode(tmp_path / "out" / "sms.jsonl") == 0o600
    assert _mode(tmp_path / "out" / "email.jsonl") == 0o600


def test_the_code_log_masks_the_phone_and_is_private(tmp_path: Path) -> None:
    send = file_otp_sender(tmp_path / "outbox")
    send(PHONE, "验证码 123456，10分钟内有效。")
    log = tmp_path / "outbox" / "otp.log"
    text = log.read_text("utf-8")
    assert text.startswith("138****5678\t") and PHONE[3:] not in text
    assert _mode(log) == 0o600
