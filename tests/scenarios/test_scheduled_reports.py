"""Scheduled reports e-mailed by the nightly run, to a real SMTP server (aiosmtpd) on loopback.

- 15 Feb: the risk team schedules the cases report daily (XLSX, masked for a manager) to two
  addresses, and the promises of the week every Monday (CSV, masked for a team lead); a
  schedule that would e-mail personal data in clear is refused.
- 16 Feb (a Monday): the night imports the day's extract and runs; at the reports step the
  server refuses the team lead's address for now (451): the risk address gets its report, the
  step fails and says why.
- The operator resumes the night: the team lead gets both reports, the risk address is not
  sent the cases report a second time; running the finished night again sends nothing.
- The reports hold the database's rows and no name or phone number in clear; each send is
  recorded per schedule and date, each export audited.

On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date
from email.message import EmailMessage
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner, Result

from arrears.cli import build
from arrears.privacy.keyring import KeyRing
from arrears.services.nightly import night_steps_of
from arrears.store import tables as t
from arrears.store.tables_compliance import audit_log
from arrears.store.tables_reports import report_sends
from tests.integration.channels.test_smtp import Mailbox, smtp_server
from tests.integration.privacy.conftest import cli_url

FIXTURE = Path(__file__).parents[1] / "fixtures" / "import" / "good"
MONDAY = date(2026, 2, 16)
RISK, LEAD = "risk@example.cn", "lead@example.cn"
PLAINTEXT = ("王芳", "13812345678", "John Smith", "7700 900123", "wang.fang@example.cn")


def _reports_to(mailbox: Mailbox, to: str) -> list[EmailMessage]:
    return [m for _, rcpt, m in mailbox.received if rcpt == [to]]


def _attachment(message: EmailMessage) -> tuple[str, bytes]:
    (part,) = list(message.iter_attachments())
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return str(part.get_filename()), data


def test_scheduled_reports_go_out_once_per_night_and_recipient(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    monkeypatch.setenv("ARREARS_OUTBOX_DIR", str(tmp_path / "outbox"))
    extracts = tmp_path / "extracts"
    shutil.copytree(FIXTURE, extracts / MONDAY.isoformat())
    mailbox = Mailbox()

    def arrears(*args: str) -> Result:
        return CliRunner().invoke(build(), ["--database", cli_url(db), *args])

    # 15 Feb: the schedules
    daily = arrears(
        "report", "schedule", "add", "cases", "--format", "xlsx", "--to", f"{RISK},{LEAD}",
        "--every", "daily", "--role", "manager", "--by", "li.manager",
    )  # fmt: skip
    assert daily.exit_code == 0, daily.output
    assert "schedule 1: cases as xlsx, daily" in daily.output
    weekly = arrears(
        "report", "schedule", "add", "promises", "--format", "csv", "--to", LEAD,
        "--every", "mon", "--role", "team_lead", "--by", "li.manager",
    )  # fmt: skip
    assert weekly.exit_code == 0, weekly.output
    clear = arrears(
        "report", "schedule", "add", "cases", "--to", RISK, "--every", "daily",
        "--role", "compliance", "--by", "li.manager",
    )  # fmt: skip
    assert clear.exit_code == 2 and "no personal data in clear" in clear.output
    listed = arrears("report", "schedule", "list")
    assert "promises  csv  monday  team_lead  lead@example.cn" in listed.output
    assert len(listed.output.strip().splitlines()) == 3  # heading and the two schedules

    with smtp_server(mailbox) as port:
        channels = tmp_path / "channels.yaml"
        channels.write_text(
            f"""
channels:
  email: {{kind: smtp, host: 127.0.0.1, port: {port}, sender: reports@example.cn}}
  "*": {{kind: file, directory: {tmp_path / "outbox"}}}
""",
            "utf-8",
        )
        night = ["nightly", "--as-of", MONDAY.isoformat(), "--extracts", str(extracts)]
        night += ["--channels", str(channels)]

        # 16 Feb: the lead's mail server defers; the risk address gets its report
        mailbox.refuse[LEAD] = "451 4.3.0 mailbox busy, try later"
        failed = arrears(*night)
        assert failed.exit_code == 1, failed.output
        assert "failed at step reports" in failed.output
        assert "2 scheduled report e-mail(s) not sent (1 sent)" in failed.output
        assert len(_reports_to(mailbox, RISK)) == 1 and not _reports_to(mailbox, LEAD)

        # the operator resumes the night: the lead gets both, the risk address nothing more
        del mailbox.refuse[LEAD]
        resumed = arrears(*night)
        assert resumed.exit_code == 0, resumed.output
        again = arrears(*night)  # a finished night runs nothing
        assert again.exit_code == 0, again.output

    (to_risk,) = _reports_to(mailbox, RISK)
    to_lead = _reports_to(mailbox, LEAD)
    assert len(to_lead) == 2
    cases_mail = next(m for m in to_lead if "cases" in m["Subject"])
    assert cases_mail["Message-ID"] == to_risk["Message-ID"]  # the same report, by its id
    promises_mail = next(m for m in to_lead if "promises" in m["Subject"])

    name, data = _attachment(cases_mail)
    assert name == "arrears-cases-2026-02-16.xlsx"
    sheet = load_workbook(io.BytesIO(data), read_only=True)["cases"]
    rows = list(sheet.iter_rows(values_only=True))
    with db.connect() as conn:
        open_cases = conn.scalar(
            select(func.count()).where(
                t.cases.c.opened_on <= MONDAY,
                t.cases.c.closed_on.is_(None) | (t.cases.c.closed_on >= MONDAY),
            )
        )
        promises = conn.scalar(
            select(func.count()).where(t.promises.c.made_on.between(date(2026, 2, 10), MONDAY))
        )
    assert open_cases and len(rows) - 1 == open_cases
    assert rows[0][:4] == ("case_id", "borrower_id", "borrower_name", "borrower_phone")
    cells = " ".join(str(c) for r in rows for c in r)
    assert not [p for p in PLAINTEXT if p in cells]
    assert "*" in str(rows[1][2]) and "*" in str(rows[1][3])  # masked, not left out

    name, data = _attachment(promises_mail)
    assert name == "arrears-promises-2026-02-10_2026-02-16.csv"
    text = data.decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(text)))) == promises
    assert text.startswith("promise_id,case_id,made_on,due_on,amount,paid_amount,currency")

    steps = {s["step"]: s for s in night_steps_of(db, MONDAY)}
    assert (steps["reports"]["status"], steps["reports"]["attempts"]) == ("finished", 2)
    assert "scheduled reports: 2 e-mailed, 1 sent before" in steps["reports"]["note"]
    with db.connect() as conn:
        sends = conn.execute(
            select(report_sends.c.schedule_id, report_sends.c.recipient).order_by(
                report_sends.c.schedule_id, report_sends.c.recipient
            )
        ).all()
        exported = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail)
            .where(audit_log.c.kind == "export", audit_log.c.subject.like("export:%"))
            .order_by(audit_log.c.seq)
        ).all()
    assert [tuple(s) for s in sends] == [(1, LEAD), (1, RISK), (2, LEAD)]
    # each report exported on each attempt for whom it was still due (the second for the lead)
    assert [json.loads(d)["to"] for _, d in exported] == [[RISK, LEAD], [LEAD], [LEAD], [LEAD]]
    assert {a for a, _ in exported} == {"nightly (schedule 1)", "nightly (schedule 2)"}
    assert json.loads(exported[0][1])["personal_data"] == "masked"
