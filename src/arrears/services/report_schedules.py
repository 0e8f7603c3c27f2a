"""Scheduled reports: an export (`services/exports.py`) e-mailed as an attachment by the
nightly run's `reports` step, daily or weekly on a weekday, masked as a chosen role sees it.

A daily report covers its business date; a weekly one the seven days ending on it (for the
exports of a period; the exports of a state — cases, actions — are as of the date). Each
recipient's send is recorded per schedule and business date, so a night run again (or resumed)
sends nothing twice; a send that failed is tried again by the next run of the step.

An e-mail is not encrypted at rest in a mailbox: a schedule never carries personal data in
clear (its role must be one that sees it masked)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from arrears.channels.base import Accepted, Attachment, Channel, ChannelError, OutgoingMessage
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.privacy.masking import Role, parse_role
from arrears.services import exports as ex
from arrears.store.tables_reports import report_schedules, report_sends

MAX_ATTACHMENT = 20 * 1024 * 1024  # bytes: past this, mail servers refuse; export instead
_ADDRESS = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CONTENT_TYPES = {
    ex.ExportFormat.CSV: "text/csv",
    ex.ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class Cadence(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class ScheduleInvalid(ValueError):
    """A schedule that cannot be added as given; the message says what to change."""


class ScheduleUnknown(LookupError):
    def __init__(self, schedule_id: int) -> None:
        super().__init__(
            f"no scheduled report {schedule_id}; `arrears report schedule list` shows them"
        )


@dataclass(frozen=True)
class Schedule:
    id: int
    kind: ex.ExportKind
    format: ex.ExportFormat
    recipients: tuple[str, ...]
    cadence: Cadence
    weekday: int | None
    role: Role
    created_by: str

    @property
    def every(self) -> str:
        return "daily" if self.weekday is None else WEEKDAYS[self.weekday]

    def due_on(self, day: date) -> bool:
        return self.cadence is Cadence.DAILY or day.weekday() == self.weekday

    def period_start(self, day: date) -> date:
        return day if self.cadence is Cadence.DAILY else day - timedelta(days=6)


def parse_every(text: str) -> tuple[Cadence, int | None]:
    """`daily`, or a weekday (`monday`, `mon`, …) for a weekly report on that day."""
    word = text.strip().lower()
    if word == "daily":
        return Cadence.DAILY, None
    for n, name in enumerate(WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            return Cadence.WEEKLY, n
    raise ScheduleInvalid(f"--every {text!r}: write daily, or a weekday such as monday")


def parse_recipients(text: str) -> tuple[str, ...]:
    found = tuple(a.strip() for a in text.split(",") if a.strip())
    if not found:
        raise ScheduleInvalid("--to needs at least one e-mail address")
    bad = [a for a in found if not _ADDRESS.match(a)]
    if bad:
        raise ScheduleInvalid(f"not an e-mail address: {', '.join(bad)}")
    return found


def add_schedule(
    conn: Connection,
    ring: KeyRing,
    *,
    kind: str,
    fmt: str,
    recipients: str,
    every: str,
    role: str,
    by: str,
    at: datetime,
) -> Schedule:
    """Add a schedule (all checked first: nothing is stored from a bad one); audited."""
    kind_, fmt_ = ex.parse_kind(kind), ex.parse_format(fmt)
    role_ = ex.check_allowed(parse_role(role), kind_)
    if ex.DEFINITIONS[kind_].personal and ex.sees_personal_data(role_):
        raise ScheduleInvalid(
            f"the role {role_} sees personal data in clear and {kind_} holds it; an e-mail "
            "carries no personal data in clear: schedule it with a role that sees it masked "
            "(e.g. manager), or export it with `arrears export`"
        )
    cadence, weekday = parse_every(every)
    to = parse_recipients(recipients)
    new_id = conn.scalar(
        insert(report_schedules)
        .values(
            kind=kind_.value,
            format=fmt_.value,
            recipients=",".join(to),
            cadence=cadence.value,
            weekday=weekday,
            role=role_.value,
            created_by=by,
            created_at=at,
        )
        .returning(report_schedules.c.id)
    )
    schedule = Schedule(int(new_id), kind_, fmt_, to, cadence, weekday, role_, by)
    audit.append(
        conn,
        ring,
        actor=by,
        kind=audit.AuditKind.EXPORT,
        subject=f"report_schedule:{schedule.id}",
        detail={
            "scheduled": kind_.value,
            "format": fmt_.value,
            "to": list(to),
            "every": schedule.every,
            "role": role_.value,
        },
        at=at,
    )
    return schedule


def _schedule(row: Any) -> Schedule:
    return Schedule(
        id=int(row.id),
        kind=ex.ExportKind(row.kind),
        format=ex.ExportFormat(row.format),
        recipients=tuple(row.recipients.split(",")),
        cadence=Cadence(row.cadence),
        weekday=row.weekday,
        role=Role(row.role),
        created_by=row.created_by,
    )


def list_schedules(conn: Connection) -> list[Schedule]:
    """The schedules in force, in the order they were added."""
    s = report_schedules.c
    rows = conn.execute(select(report_schedules).where(s.removed_at.is_(None)).order_by(s.id)).all()
    return [_schedule(r) for r in rows]


def remove_schedule(
    conn: Connection, ring: KeyRing, schedule_id: int, *, by: str, at: datetime
) -> None:
    """Stop a schedule (its record of sends stays); audited."""
    s = report_schedules.c
    done = conn.execute(
        update(report_schedules)
        .where(s.id == schedule_id, s.removed_at.is_(None))
        .values(removed_by=by, removed_at=at)
    )
    if done.rowcount != 1:
        raise ScheduleUnknown(schedule_id)
    audit.append(
        conn,
        ring,
        actor=by,
        kind=audit.AuditKind.EXPORT,
        subject=f"report_schedule:{schedule_id}",
        detail={"removed": True},
        at=at,
    )


@dataclass
class SendReport:
    sent: int = 0  # e-mails accepted by the server this run
    already: int = 0  # e-mails sent for the date by an earlier run
    rows: int = 0  # rows of the reports sent
    failed: list[str] | None = None  # one line per e-mail not sent


def _sent_to(engine: Engine, schedule_id: int, day: date) -> set[str]:
    r = report_sends.c
    with engine.connect() as conn:
        return set(
            conn.scalars(
                select(r.recipient).where(r.schedule_id == schedule_id, r.business_date == day)
            )
        )


def message_for(
    schedule: Schedule, day: date, to: str, done: ex.ExportDone, data: bytes
) -> OutgoingMessage:
    """The e-mail of one scheduled report: the same Message-ID every time it is sent."""
    span = f"{done.period.start} – {done.period.end}"
    subject = f"[arrears] {schedule.kind.value} {span} ({done.rows} rows)"
    body = (
        f"The scheduled report {schedule.kind.value} of {span}: {done.rows} rows, "
        f"attached as {done.filename}. Personal data in it is masked for the role "
        f"{schedule.role.value}.\n\n"
        f"定期报表 {schedule.kind.value}（{span}）：{done.rows} 行，见附件 {done.filename}。\n\n"
        f"Schedule {schedule.id}; `arrears report schedule remove {schedule.id}` stops it.\n"
    )
    return OutgoingMessage(
        outbox_id=-(schedule.id * 100_000_000 + int(day.strftime("%Y%m%d"))),  # never an outbox id
        channel="email",
        to=to,
        language="en",
        audience="operations",
        template="scheduled_report",
        body=body,
        subject=subject,
        attachments=(Attachment(done.filename, CONTENT_TYPES[schedule.format], data),),
    )


def send_due(
    engine: Engine,
    ring: KeyRing,
    day: date,
    channel: Callable[[], Channel] | None,
    *,
    at: datetime,
    by: str,
) -> SendReport:
    """E-mail each schedule due on `day` to each recipient it was not yet sent to for `day`.
    `channel` opens the SMTP channel (None: none is configured, and a due report fails)."""
    report = SendReport(failed=[])
    assert report.failed is not None
    with engine.connect() as conn:
        due = [s for s in list_schedules(conn) if s.due_on(day)]
    opened: Channel | None = None
    try:
        for schedule in due:
            sent = _sent_to(engine, schedule.id, day)
            waiting = [r for r in schedule.recipients if r not in sent]
            report.already += len(schedule.recipients) - len(waiting)
            if not waiting:
                continue
            if channel is None:
                report.failed.append(
                    f"schedule {schedule.id}: no SMTP channel to send it through; name one "
                    "`email` (kind smtp) in the channels file (--channels)"
                )
                continue
            with tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024) as out:
                done = ex.run_export(
                    engine,
                    ring,
                    kind=schedule.kind,
                    fmt=schedule.format,
                    as_of=day,
                    start=schedule.period_start(day),
                    actor=f"{by} (schedule {schedule.id})",
                    role=schedule.role,
                    out=out,
                    at=at,
                    note={"schedule": schedule.id, "to": waiting},
                )
                size = out.tell()
                if size > MAX_ATTACHMENT:
                    report.failed.append(
                        f"schedule {schedule.id}: the {schedule.kind} report is {size} bytes, "
                        f"more than an e-mail carries ({MAX_ATTACHMENT}); use `arrears export`"
                    )
                    continue
                out.seek(0)
                data = out.read()
            if opened is None:
                opened = channel()
            for to in waiting:
                message = message_for(schedule, day, to, done, data)
                try:
                    (outcome,) = opened.send_batch([message])
                except ChannelError as exc:
                    outcome = exc
                if not isinstance(outcome, Accepted):
                    report.failed.append(f"schedule {schedule.id} to {to}: {outcome}")
                    continue
                with engine.begin() as conn:
                    conn.execute(
                        insert(report_sends).values(
                            schedule_id=schedule.id,
                            business_date=day,
                            recipient=to,
                            rows=done.rows,
                            message_id=outcome.provider_id,
                            sent_at=at,
                        )
                    )
                report.sent += 1
                report.rows += done.rows
    finally:
        if opened is not None:
            opened.close()
    return report
