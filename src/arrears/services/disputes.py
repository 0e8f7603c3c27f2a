"""Disputes: a borrower disputes the debt — on a call (the agent's outcome), over the API, on the
borrower page, in an import, or to the compliance officer. The borrower is flagged 'dispute' and
collection of the case pauses: the nightly run plans nothing for it, the dispatcher and the dial
check refuse (`flag_dispute`), until its owner verifies the debt or the borrower withdraws the
dispute. Each dispute has an owner and a due date (the pack's validation period, else 30 days).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from arrears.compliance.loading import RulePackUnavailable, borrower_pack, load_pack
from arrears.compliance.rules.model import Flag
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.flag_holds import hold_flag, release_flag
from arrears.store import tables as t
from arrears.store.tables_compliance import disputes

DEFAULT_DAYS = 30
DEFAULT_OWNER = "compliance"


class DisputeSource(StrEnum):
    AGENT = "agent"
    API = "api"
    BORROWER = "borrower"
    IMPORT = "import"
    OFFICER = "officer"


class DisputeStatus(StrEnum):
    OPEN = "open"
    VERIFIED = "verified"
    WITHDRAWN = "withdrawn"


class DisputeNotFound(LookupError):
    def __init__(self, dispute_id: int) -> None:
        super().__init__(f"no dispute {dispute_id}; list them with `arrears disputes list`")


class DisputeClosed(ValueError):
    def __init__(self, dispute_id: int, status: str) -> None:
        super().__init__(
            f"dispute {dispute_id} is already {status}; only an open dispute is verified or "
            "withdrawn (record a new dispute if the borrower disputes again)"
        )


class DisputeTargetUnknown(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what}; a dispute names a known borrower or case")


@dataclass(frozen=True)
class Dispute:
    id: int
    borrower_id: str
    case_id: int | None
    account_id: str | None
    raised_on: date
    source: str
    reason: str | None
    owner: str
    due_on: date
    status: str
    resolved_on: date | None
    resolved_by: str | None

    def overdue(self, on: date) -> bool:
        return self.status == DisputeStatus.OPEN and on > self.due_on


def _days(conn: Connection, borrower_id: str) -> int:
    try:
        days = load_pack(borrower_pack(conn, borrower_id)).validation_period_days
    except RulePackUnavailable:
        days = None
    return days or DEFAULT_DAYS


def record_dispute(
    conn: Connection,
    *,
    source: str,
    on: date,
    by: str,
    at: datetime,
    borrower_id: str | None = None,
    case_id: int | None = None,
    account_id: str | None = None,
    reason: str | None = None,
    owner: str | None = None,
    due_on: date | None = None,
    keyring: KeyRing | None = None,
) -> int:
    """Record a dispute and pause collection: the borrower's 'dispute' flag from `on` (once,
    however many disputes are open). Audited when a key ring is at hand."""
    origin = DisputeSource(source)
    if case_id is not None:
        owner_of_case = conn.execute(
            select(t.cases.c.borrower_id).where(t.cases.c.id == case_id)
        ).scalar()
        if owner_of_case is None:
            raise DisputeTargetUnknown(f"no case {case_id}")
        if borrower_id is not None and borrower_id != owner_of_case:
            raise DisputeTargetUnknown(f"case {case_id} is not borrower {borrower_id}'s")
        borrower_id = str(owner_of_case)
    if borrower_id is None:
        raise DisputeTargetUnknown("no borrower or case named")
    known = conn.execute(select(t.borrowers.c.id).where(t.borrowers.c.id == borrower_id)).scalar()
    if known is None:
        raise DisputeTargetUnknown(f"no borrower {borrower_id}")
    if case_id is None:
        case_id = conn.execute(
            select(t.cases.c.id).where(
                t.cases.c.borrower_id == borrower_id, t.cases.c.status == "open"
            )
        ).scalar()
    due = due_on or on + timedelta(days=_days(conn, borrower_id))
    dispute_id = conn.execute(
        insert(disputes)
        .values(
            borrower_id=borrower_id,
            account_id=account_id,
            case_id=case_id,
            raised_on=on,
            source=origin.value,
            reason=reason,
            owner=owner or DEFAULT_OWNER,
            due_on=due,
            status=DisputeStatus.OPEN.value,
            recorded_by=by,
            recorded_at=at,
        )
        .returning(disputes.c.id)
    ).scalar_one()
    hold_flag(conn, borrower_id, Flag.DISPUTE, since=on, note=f"dispute {dispute_id}", by=by, at=at)
    if case_id is not None:  # what was planned or deferred and not yet done is called off
        conn.execute(
            update(t.actions)
            .where(
                t.actions.c.case_id == case_id,
                t.actions.c.status.in_(["planned", "deferred"]),
            )
            .values(status="cancelled", reason=f"collection paused: dispute {dispute_id}")
        )
    if keyring is not None:
        audit.append(
            conn,
            keyring,
            actor=by,
            kind=audit.AuditKind.FLAG,
            subject=f"borrower:{borrower_id}",
            detail={
                "flag": Flag.DISPUTE.value,
                "action": "dispute",
                "dispute": int(dispute_id),
                "source": origin.value,
                "due_on": due.isoformat(),
            },
            at=at,
        )
    return int(dispute_id)


def _resolve(
    conn: Connection,
    dispute_id: int,
    status: DisputeStatus,
    *,
    on: date,
    by: str,
    at: datetime,
    note: str | None,
    keyring: KeyRing | None,
) -> Dispute:
    found = get_dispute(conn, dispute_id)
    if found.status != DisputeStatus.OPEN:
        raise DisputeClosed(dispute_id, found.status)
    conn.execute(
        update(disputes)
        .where(disputes.c.id == dispute_id)
        .values(status=status.value, resolved_on=on, resolved_by=by, resolution_note=note)
    )
    still_open = conn.execute(
        select(disputes.c.id).where(
            disputes.c.borrower_id == found.borrower_id,
            disputes.c.status == DisputeStatus.OPEN.value,
        )
    ).first()
    if still_open is None:  # the last open dispute: collection resumes
        release_flag(conn, found.borrower_id, Flag.DISPUTE, on=on)
    if keyring is not None:
        audit.append(
            conn,
            keyring,
            actor=by,
            kind=audit.AuditKind.FLAG,
            subject=f"borrower:{found.borrower_id}",
            detail={
                "flag": Flag.DISPUTE.value,
                "action": status.value,
                "dispute": dispute_id,
                "on": on.isoformat(),
                "note": note,
            },
            at=at,
        )
    return get_dispute(conn, dispute_id)


def verify_dispute(
    conn: Connection,
    dispute_id: int,
    *,
    on: date,
    by: str,
    at: datetime,
    note: str | None = None,
    keyring: KeyRing | None = None,
) -> Dispute:
    """The debt is verified (and the verification sent to the borrower): collection resumes."""
    return _resolve(
        conn, dispute_id, DisputeStatus.VERIFIED, on=on, by=by, at=at, note=note, keyring=keyring
    )


def withdraw_dispute(
    conn: Connection,
    dispute_id: int,
    *,
    on: date,
    by: str,
    at: datetime,
    note: str | None = None,
    keyring: KeyRing | None = None,
) -> Dispute:
    """The borrower withdraws the dispute: collection resumes."""
    return _resolve(
        conn, dispute_id, DisputeStatus.WITHDRAWN, on=on, by=by, at=at, note=note, keyring=keyring
    )


def _of(row: object) -> Dispute:
    m = row._mapping  # type: ignore[attr-defined]
    return Dispute(
        id=m["id"],
        borrower_id=m["borrower_id"],
        case_id=m["case_id"],
        account_id=m["account_id"],
        raised_on=m["raised_on"],
        source=m["source"],
        reason=m["reason"],
        owner=m["owner"],
        due_on=m["due_on"],
        status=m["status"],
        resolved_on=m["resolved_on"],
        resolved_by=m["resolved_by"],
    )


def get_dispute(conn: Connection, dispute_id: int) -> Dispute:
    row = conn.execute(select(disputes).where(disputes.c.id == dispute_id)).first()
    if row is None:
        raise DisputeNotFound(dispute_id)
    return _of(row)


def list_disputes(
    conn: Connection, *, status: str | None = "open", owner: str | None = None
) -> Sequence[Dispute]:
    """Disputes, the soonest due first (open ones by default)."""
    stmt = select(disputes).order_by(disputes.c.due_on, disputes.c.id)
    if status:
        stmt = stmt.where(disputes.c.status == DisputeStatus(status).value)
    if owner:
        stmt = stmt.where(disputes.c.owner == owner)
    return [_of(r) for r in conn.execute(stmt)]
