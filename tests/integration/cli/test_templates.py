"""`arrears templates list | preview | save | approve` through the real command line, on
SQLite and PostgreSQL: a preview renders a real case exactly as the dispatcher would send it,
with the personal data masked; a draft can be previewed before it is approved."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from arrears.channels.filesink import FileSink
from arrears.channels.sms_text import segment_count
from arrears.cli import build
from arrears.privacy.keyring import KeyRing
from arrears.services.dispatch import AllowAll, dispatch_once
from arrears.store import tables as t
from tests.integration.channels.outbox import AT, contact_message, queue_messages
from tests.integration.privacy.conftest import cli_url

SMPP_CHANNELS = """
lender_name: {zh-CN: 示例消费金融, en: Example Consumer Finance}
callback_number: 400-111-2222
channels:
  sms: {kind: smpp, host: 127.0.0.1, system_id: arrears, password_env: NOT_SET_ANYWHERE,
        signature: {zh-CN: 示例金融, en: Example}}
"""


@pytest.fixture
def run(db: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    url = cli_url(db)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(build(), ["--database", url, "templates", *args])
        return result.exit_code, result.output

    return invoke


def case_of(db: Engine, borrower: str) -> int:
    with db.connect() as conn:
        return conn.execute(
            select(t.cases.c.id).where(t.cases.c.borrower_id == borrower)
        ).scalar_one()


def counts(db: Engine) -> tuple[int, int]:
    with db.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(t.actions)).scalar_one(),
            conn.execute(select(func.count()).select_from(t.outbox)).scalar_one(),
        )


def test_preview_of_a_real_case_matches_what_is_sent_masked(
    run, db: Engine, keyring: KeyRing, tmp_path: Path
):
    with db.begin() as conn:
        queue_messages(conn, keyring, 1, name="欧阳娜娜", template="reminder_day1")
    case = case_of(db, "B0")
    before = counts(db)
    code, out = run(
        "preview",
        "reminder_day1",
        "--channel",
        "sms",
        "--language",
        "zh-CN",
        "--audience",
        "borrower",
        "--case",
        str(case),
        "--as-of",
        "2026-03-02",
    )
    assert code == 0, out
    assert counts(db) == before  # a preview leaves nothing behind
    assert "reminder_day1/sms/zh-CN@v0 (packaged default, sent)" in out
    assert f"case      {case} (personal data masked)" in out
    assert "欧阳娜娜" not in out and "娜娜" not in out
    assert "欧***您好" in out  # the name, masked
    assert "¥1,234.50" in out and "2026年3月1日" in out
    assert "to        138****0000" in out
    # the borrower's page token is hidden, keeping its length
    assert "https://pay.example.cn/b/" + "*" * 22 in out
    # what the dispatcher sends for this case, with the default SMS wording
    sink = tmp_path / "out"
    dispatch_once(db, keyring, FileSink(sink), AT + timedelta(minutes=5), gate=AllowAll())
    sent = (sink / "sms.jsonl").read_text("utf-8")
    record = json.loads(sent)
    shown = out.split("---\n")[1].rstrip("\n")
    assert shown.startswith("【示例消费金融】欧***您好")
    assert shown.endswith("拒收请回复TD")
    body = record["body"]
    assert shown.replace("【示例消费金融】", "").replace("拒收请回复TD", "") == body.replace(
        "欧阳娜娜", "欧***"
    ).replace(body.split("/b/")[1][:22], "*" * 22)
    segments = segment_count(f"【示例消费金融】{body}拒收请回复TD")
    assert f"segments  {segments} (UCS2," in out


def test_preview_uses_the_channels_files_wording_and_example_values(run, tmp_path: Path):
    channels = tmp_path / "channels.yaml"
    channels.write_text(SMPP_CHANNELS, "utf-8")
    code, out = run("preview", "reminder_day1", "--language", "en", "--channels", str(channels))
    assert code == 0, out
    assert "case      none: example values" in out
    body = out.split("---\n")[1].rstrip("\n")
    assert body.startswith("Example: Hello Sam Example,") and body.endswith("Reply STOP to opt out")
    # example values fill every slot, the link at the real length of a borrower link
    assert "payment of CN¥1,234.50 due 1 Mar 2026" in body
    assert "https://pay.example.cn/b/example-link-not-valid" in body
    assert f"segments  {segment_count(body)} (GSM7, {len(body)} characters as sent)" in out


def test_preview_of_email_and_contact_templates(run, db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        queue_messages(conn, keyring, 1, name="王芳", email="wang.fang@example.cn")
        contact_message(conn, keyring, 0, name="李伟")
    case = case_of(db, "B0")
    code, out = run("preview", "reminder", "--channel", "email", "--case", str(case), "--html")
    assert code == 0, out
    assert "subject   示例消费金融：账户待还款提醒" in out
    assert "to        w***@example.cn" in out and "王*您好：" in out and "王芳" not in out
    assert "<p>王*您好：</p>" in out
    assert "segments" not in out
    code, out = run("preview", "contact_callback", "--case", str(case), "--audience", "contact")
    assert code == 0, out
    assert "audience  contact" in out and "李*" in out and "李伟" not in out
    assert "to        139****0002" in out
    # the audience asked for is not the template's: refused, as the dispatcher would block it
    code, out = run("preview", "reminder_day1", "--case", str(case), "--audience", "contact")
    assert code == 1 and "is a borrower template, not a contact one" in out


def test_unknown_template_case_or_audience(run):
    code, out = run("preview", "no_such_template")
    assert code == 2 and "no approved template 'no_such_template'" in out
    code, out = run("preview", "reminder_day1", "--case", "999999")
    assert code == 2 and "no case 999999" in out
    code, out = run("preview", "reminder_day1", "--audience", "neighbour")
    assert code == 2 and "use borrower or contact" in out


DRAFT = """---
audience: borrower
slots: [borrower_first_name, overdue_amount, link]
---
{{ borrower_first_name }}，您好：您有{{ overdue_amount }}待还，详情见{{ link }}
"""


def test_save_preview_draft_approve_and_list(run, db: Engine, tmp_path: Path):
    draft = tmp_path / "reminder_day1.j2"
    draft.write_text(DRAFT, "utf-8")
    sms_zh = ("--channel", "sms", "--language", "zh-CN")

    def save() -> tuple[int, str]:
        return run("save", str(draft), "--name", "reminder_day1", *sms_zh, "--by", "writer")

    def approve(by: str) -> tuple[int, str]:
        return run("approve", "reminder_day1", *sms_zh, "--version", "1", "--by", by)

    code, out = save()
    assert code == 0 and "v1 as a draft" in out, out
    code, out = run("preview", "reminder_day1", "--version", "1")
    assert code == 0, out
    assert "reminder_day1/sms/zh-CN@v1 (draft, not sent)" in out and "三，您好：" in out
    code, out = run("list", "--channel", "sms", "--language", "zh-CN")
    lines = [x for x in out.splitlines() if "reminder_day1" in x]
    assert lines[0].startswith("* reminder_day1") and "v0" in lines[0]
    assert lines[1].startswith("  reminder_day1") and "draft" in lines[1]
    code, out = approve("writer")
    assert code == 2 and "another person must approve it" in out
    code, out = approve("checker")
    assert code == 0, out
    code, out = run("list", "--channel", "sms", "--language", "zh-CN")
    lines = [x for x in out.splitlines() if "reminder_day1" in x]
    assert lines[0].startswith("  reminder_day1") and lines[1].startswith("* reminder_day1")
    code, out = run("preview", "reminder_day1")
    assert "@v1 (approved, sent)" in out
    # a draft with a slot a borrower template may not use is refused with the reason
    draft.write_text(DRAFT.replace("link]", "link, contact_name]"), "utf-8")
    code, out = save()
    assert code == 1 and "slot_unknown: 'contact_name'" in out
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.outbox)).scalar_one() == 0
