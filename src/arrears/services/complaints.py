"""The complaints register: a borrower's complaint received by any channel, in a fixed category,
assigned to an owner, answered within the days of the borrower's rule pack
(`Pack.complaint_response_days`), then closed. A complaint may pause outreach while it is open:
the borrower's 'complaint' flag, which the one compliance gate honours at plan, send and dial
time (`<pack>.flag_complaint`, a block); closing the borrower's last pausing complaint lifts it.
Every step is in the audit log (kind `complaint`). What the borrower said and what was answered
are encrypted at rest.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, case, insert, select, update

from arrears.compliance.loading import borrower_pack, load_pack
from arrears.compliance.rules.model import Flag
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.flag_holds import hold_flag, release_flag
from arrears.store import tables as t
from arrears.store.tables_complaints import complaints
from arrears.store.tables_web import users

SUMMARY_MAX = 4000


class ComplaintChannel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"
    WEB = "web"
    REGULATOR = "regulator"
    AGENCY = "agency"


class ComplaintCategory(StrEnum):
    CONDUCT = "conduct"
    CONTACT_FREQUENCY = "contact_frequency"
    THIRD_PARTY_DISCLOSURE = "third_party_disclosure"
    AMOUNT_DISPUTED = "amount_disputed"
    VULNERABILITY = "vulnerability"
    OTHER = "other"


class ComplaintStatus(StrEnum):
    OPEN = "open"  # received, perhaps assigned, not answered yet: the clock runs
    ANSWERED = "answered"  # the final response was given
    CLOSED = "closed"


class ComplaintOutcome(StrEnum):
    UPHELD = "upheld"
    PARTLY_UPHELD = "partly_upheld"
    REJECTED = "rejected"


class ComplaintValueUnknown(ValueError):
    def __init__(self, what: str, text: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown complaint {what} {text!r}; use one of {', '.join(known)}")


class ComplaintNotFound(LookupError):
    def __init__(self, complaint_id: int) -> None:
        super().__init__(f"no complaint {complaint_id}; list them with `arrears complaint list`")


class ComplaintTargetUnknown(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what}; a complaint names a known borrower or case")


class ComplaintOwnerUnknown(LookupError):
    def __init__(self, owner: str) -> None:
        super().__init__(
            f"no active user {owner!r} to own the complaint; name a user (`arrears users list`)"
        )


class ComplaintStateWrong(ValueError):
    def __init__(self, complaint_id: int, status: str, step: str) -> None:
        allowed = {
            "assign": "an open complaint is assigned",
            "answer": "an open complaint is answered",
            "close": "an answered complaint is closed (answer it first)",
        }[step]
        super().__init__(f"complaint {complaint_id} is {status}; {allowed}")


class ComplaintTextInvalid(ValueError):
    def __init__(self, what: str) -> None:
        super().__init__(f"the complaint's {what} is empty or longer than {SUMMARY_MAX} characters")


def _parse(kind: type[StrEnum], what: str, text: str) -> Any:
    try:
        return kind(str(text).strip().lower())
    except ValueError:
        raise ComplaintValueUnknown(what, text, [k.value for k in kind]) from None


def parse_channel(text: str) -> ComplaintChannel:
    return _parse(ComplaintChannel, "channel", text)  # type: ignore[no-any-return]


def parse_category(text: str) -> ComplaintCategory:
    return _parse(ComplaintCategory, "category", text)  # type: ignore[no-any-return]


def parse_outcome(text: str) -> ComplaintOutcome:
    return _parse(ComplaintOutcome, "outcome", text)  # type: ignore[no-any-return]


def parse_status(text: str) -> ComplaintStatus:
    return _parse(ComplaintStatus, "status", text)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Complaint:
    id: int
    borrower_id: str
    case_id: int | None
    received_on: date
    channel: str
    category: str
    summary: str | None
    pause_outreach: bool
    owner: str | None
    due_on: date
    status: str
    answered_on: date | None
    outcome: str | None
    response: str | None
    closed_on: date | None
    received_by: str

    def overdue(self, on: date) -> bool:
        """Not answered and past its due date on `on`."""
        return self.status == ComplaintStatus.OPEN and on > self.due_on

    def days_to_answer(self) -> int | None:
        return None if self.answered_on is None else (self.answered_on - self.received_on).days


def _text(value: str | None, what: str, *, required: bool) -> str | None:
    value = (value or "").strip()
    if (required and not value) or len(value) > SUMMARY_MAX:
        raise ComplaintTextInvalid(what)
    return value or None


def response_days(conn: Connection, borrower_id: str) -> int:
    """The days the borrower's rule pack gives to answer a complaint (fails when the pack
    cannot be loaded: the deadline is the regulator's, never a guess)."""
    return load_pack(borrower_pack(conn, borrower_id)).complaint_response_days


def _borrower_of(conn: Connection, borrower_id: str | None, case_id: int | None) -> str:
    if case_id is not None:
        owner = conn.execute(select(t.cases.c.borrower_id).where(t.cases.c.id == case_id)).scalar()
        if owner is None:
            raise ComplaintTargetUnknown(f"no case {case_id}")
        if borrower_id is not None and borrower_id != owner:
            raise ComplaintTargetUnknown(f"case {case_id} is not borrower {borrower_id}'s")
        return str(owner)
    if borrower_id is None:
        raise ComplaintTargetUnknown("no borrower or case named")
    known = conn.execute(select(t.borrowers.c.id).where(t.borrowers.c.id == borrower_id)).scalar()
    if known is None:
        raise ComplaintTargetUnknown(f"no borrower {borrower_id}")
    return borrower_id


def _check_owner(conn: Connection, owner: str) -> None:
    found = conn.execute(
        select(users.c.username).where(users.c.username == owner, users.c.active.is_(True))
    ).scalar()
    if found is None:
        raise ComplaintOwnerUnknown(owner)


def _audit(
    conn: Connection,
    keyring: KeyRing,
    c: Complaint,
    action: str,
    by: str,
    at: datetime,
    **detail: object,
) -> None:
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.COMPLAINT,
        subject=f"borrower:{c.borrower_id}",
        detail={"complaint": c.id, "action": action, "status": c.status, **detail},
        at=at,
    )


def receive_complaint(
    conn: Connection,
    keyring: KeyRing,
    *,
    channel: str,
    category: str,
    on: date,
    by: str,
    at: datetime,
    summary: str,
    borrower_id: str | None = None,
    case_id: int | None = None,
    pause_outreach: bool = False,
    owner: str | None = None,
) -> Complaint:
    """Register a complaint received on `on`: due the pack's days later. With `pause_outreach`
    the borrower's 'complaint' flag holds from `on` (once, however many complaints pause it)."""
    how, what = parse_channel(channel), parse_category(category)
    text = _text(summary, "summary", required=True)
    borrower = _borrower_of(conn, borrower_id, case_id)
    if owner:
        _check_owner(conn, owner)
    if case_id is None:
        case_id = conn.execute(
            select(t.cases.c.id).where(
                t.cases.c.borrower_id == borrower, t.cases.c.status == "open"
            )
        ).scalar()
    due = on + timedelta(days=response_days(conn, borrower))
    complaint_id = conn.execute(
        insert(complaints)
        .values(
            borrower_id=borrower,
            case_id=case_id,
            received_on=on,
            channel=how.value,
            category=what.value,
            summary_enc=keyring.encrypt(text),
            pause_outreach=pause_outreach,
            owner=owner or None,
            due_on=due,
            status=ComplaintStatus.OPEN.value,
            received_by=by,
            received_at=at,
        )
        .returning(complaints.c.id)
    ).scalar_one()
    if pause_outreach:
        hold_flag(
            conn, borrower, Flag.COMPLAINT, since=on, note=f"complaint {complaint_id}", by=by, at=at
        )
    found = get_complaint(conn, keyring, int(complaint_id))
    _audit(
        conn,
        keyring,
        found,
        "receive",
        by,
        at,
        channel=how.value,
        category=what.value,
        due_on=due.isoformat(),
        pause_outreach=pause_outreach,
        owner=owner,
    )
    return found


def _open_for_change(conn: Connection, keyring: KeyRing, complaint_id: int, step: str) -> Complaint:
    found = get_complaint(conn, keyring, complaint_id)
    wanted = ComplaintStatus.ANSWERED if step == "close" else ComplaintStatus.OPEN
    if found.status != wanted:
        raise ComplaintStateWrong(complaint_id, found.status, step)
    return found


def assign_complaint(
    conn: Connection,
    keyring: KeyRing,
    complaint_id: int,
    *,
    owner: str,
    by: str,
    at: datetime,
) -> Complaint:
    """Give an open complaint to an owner (a user), or to another one."""
    before = _open_for_change(conn, keyring, complaint_id, "assign")
    _check_owner(conn, owner)
    conn.execute(update(complaints).where(complaints.c.id == complaint_id).values(owner=owner))
    found = get_complaint(conn, keyring, complaint_id)
    _audit(conn, keyring, found, "assign", by, at, owner=owner, was=before.owner)
    return found


def answer_complaint(
    conn: Connection,
    keyring: KeyRing,
    complaint_id: int,
    *,
    response: str,
    outcome: str,
    on: date,
    by: str,
    at: datetime,
) -> Complaint:
    """The final response given on `on` (the text sent to the borrower and its outcome)."""
    result = parse_outcome(outcome)
    text = _text(response, "response", required=True)
    before = _open_for_change(conn, keyring, complaint_id, "answer")
    if on < before.received_on:
        raise ComplaintStateWrong(complaint_id, f"received on {before.received_on}", "answer")
    conn.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(
            status=ComplaintStatus.ANSWERED.value,
            answered_on=on,
            outcome=result.value,
            response_enc=keyring.encrypt(text),
            owner=before.owner or by,
        )
    )
    found = get_complaint(conn, keyring, complaint_id)
    _audit(
        conn,
        keyring,
        found,
        "answer",
        by,
        at,
        outcome=result.value,
        on=on.isoformat(),
        late=on > before.due_on,
    )
    return found


def close_complaint(
    conn: Connection,
    keyring: KeyRing,
    complaint_id: int,
    *,
    on: date,
    by: str,
    at: datetime,
) -> Complaint:
    """Close an answered complaint; the borrower's last pausing one lifts the pause."""
    before = _open_for_change(conn, keyring, complaint_id, "close")
    conn.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(status=ComplaintStatus.CLOSED.value, closed_on=on)
    )
    resumed = False
    if before.pause_outreach:
        still = conn.execute(
            select(complaints.c.id).where(
                complaints.c.borrower_id == before.borrower_id,
                complaints.c.pause_outreach.is_(True),
                complaints.c.status != ComplaintStatus.CLOSED.value,
            )
        ).first()
        if still is None:
            release_flag(conn, before.borrower_id, Flag.COMPLAINT, on=on)
            resumed = True
    found = get_complaint(conn, keyring, complaint_id)
    _audit(conn, keyring, found, "close", by, at, on=on.isoformat(), outreach_resumed=resumed)
    return found


def _of(row: Any, keyring: KeyRing) -> Complaint:
    m = row._mapping
    return Complaint(
        id=int(m["id"]),
        borrower_id=m["borrower_id"],
        case_id=m["case_id"],
        received_on=m["received_on"],
        channel=m["channel"],
        category=m["category"],
        summary=keyring.decrypt(m["summary_enc"]),
        pause_outreach=bool(m["pause_outreach"]),
        owner=m["owner"],
        due_on=m["due_on"],
        status=m["status"],
        answered_on=m["answered_on"],
        outcome=m["outcome"],
        response=keyring.decrypt(m["response_enc"]),
        closed_on=m["closed_on"],
        received_by=m["received_by"],
    )


def get_complaint(conn: Connection, keyring: KeyRing, complaint_id: int) -> Complaint:
    row = conn.execute(select(complaints).where(complaints.c.id == complaint_id)).first()
    if row is None:
        raise ComplaintNotFound(complaint_id)
    return _of(row, keyring)


def list_complaints(
    conn: Connection,
    keyring: KeyRing,
    *,
    on: date,
    status: str | None = None,
    owner: str | None = None,
    overdue_only: bool = False,
    limit: int = 500,
) -> list[Complaint]:
    """Complaints, the overdue first, then by due date (all statuses unless one is named)."""
    c = complaints.c
    late = (c.status == ComplaintStatus.OPEN.value) & (c.due_on < on)
    stmt = select(complaints)
    if status:
        stmt = stmt.where(c.status == parse_status(status).value)
    if owner:
        stmt = stmt.where(c.owner == owner)
    if overdue_only:
        stmt = stmt.where(late)
    stmt = stmt.order_by(
        case((late, 0), else_=1),  # overdue first
        case((c.status == ComplaintStatus.OPEN.value, 0), else_=1),  # then the open ones
        c.due_on,
        c.id,
    ).limit(limit)
    return [_of(r, keyring) for r in conn.execute(stmt)]


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthLine:
    month: str  # "2026-03", the month received
    received: int
    answered: int
    answered_late: int
    median_days_to_answer: float | None


@dataclass(frozen=True)
class ComplaintReport:
    on: date
    total: int
    open: int
    overdue: int
    answered: int
    closed: int
    answered_late: int
    median_days_to_answer: float | None
    by_category: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    by_outcome: dict[str, int] = field(default_factory=dict)
    by_month: list[MonthLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "on": self.on.isoformat(),
            "total": self.total,
            "open": self.open,
            "overdue": self.overdue,
            "answered": self.answered,
            "closed": self.closed,
            "answered_late": self.answered_late,
            "median_days_to_answer": self.median_days_to_answer,
            "by_category": dict(self.by_category),
            "by_channel": dict(self.by_channel),
            "by_outcome": dict(self.by_outcome),
            "by_month": [m.__dict__ for m in self.by_month],
        }


def _median(days: list[int]) -> float | None:
    return float(statistics.median(days)) if days else None


def complaint_report(
    conn: Connection, *, on: date, start: date | None = None, end: date | None = None
) -> ComplaintReport:
    """Counts by category, channel, outcome and status (overdue on `on`), the median days from
    receipt to answer, and the same by the month received; complaints received in
    [start, end] (all when not named). Reads no personal data."""
    c = complaints.c
    stmt = select(
        c.received_on, c.channel, c.category, c.status, c.due_on, c.answered_on, c.outcome
    )
    if start is not None:
        stmt = stmt.where(c.received_on >= start)
    if end is not None:
        stmt = stmt.where(c.received_on <= end)
    rows = conn.execute(stmt).all()
    status = Counter(r.status for r in rows)
    overdue = sum(1 for r in rows if r.status == ComplaintStatus.OPEN and on > r.due_on)
    answered = [r for r in rows if r.answered_on is not None]
    late = sum(1 for r in answered if r.answered_on > r.due_on)
    months: dict[str, list[Any]] = {}
    for r in rows:
        months.setdefault(f"{r.received_on:%Y-%m}", []).append(r)
    by_month = []
    for month, group in sorted(months.items()):
        done = [r for r in group if r.answered_on is not None]
        by_month.append(
            MonthLine(
                month,
                len(group),
                len(done),
                sum(1 for r in done if r.answered_on > r.due_on),
                _median([(r.answered_on - r.received_on).days for r in done]),
            )
        )

    def counts(values: list[str], order: type[StrEnum]) -> dict[str, int]:
        n = Counter(values)
        return {k.value: n[k.value] for k in order if n[k.value]}

    return ComplaintReport(
        on=on,
        total=len(rows),
        open=status[ComplaintStatus.OPEN.value],
        overdue=overdue,
        answered=status[ComplaintStatus.ANSWERED.value],
        closed=status[ComplaintStatus.CLOSED.value],
        answered_late=late,
        median_days_to_answer=_median([(r.answered_on - r.received_on).days for r in answered]),
        by_category=counts([r.category for r in rows], ComplaintCategory),
        by_channel=counts([r.channel for r in rows], ComplaintChannel),
        by_outcome=counts([r.outcome for r in answered if r.outcome], ComplaintOutcome),
        by_month=by_month,
    )


def complaint_owners(conn: Connection) -> list[str]:
    """The users who may own a complaint: active team leads and compliance officers."""
    return list(
        conn.scalars(
            select(users.c.username)
            .where(users.c.active.is_(True), users.c.role.in_(["team_lead", "compliance"]))
            .order_by(users.c.username)
        )
    )
