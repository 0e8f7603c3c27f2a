"""The legal stage: the rules that refer cases to the legal team (the daily run applies them,
engine/legal_referral.py), a team lead's referral by hand, moving a legal case along its path
(domain/legal.py), the demand letter, and what the legal team lists and reads.

While a case is in legal the lender's ordinary automated outreach stops, by the same means a
placement with an agency uses (store/handover.py): the run plans nothing for it, what was planned
is called off, and the dial check blocks the lender's calls (`in_legal`). Withdrawing returns it:
its queue comes back and the next run plans for it again.

The demand letter addresses the borrower only, in their language, with the balance written by
the one money formatter, the creditor and the deadline. Whether it may be sent is the rule pack's
verdict, asked through the compliance port as any other letter; when the port does not allow
it, nothing is made and the case stays `referred`. The PDF is kept encrypted with its SHA-256.
Every move, referral and letter is a `legal_events` row (who, when) and an audit entry.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import Connection, func, insert, select, update

from arrears.channels.config import CommsConfig, load_channels_file
from arrears.channels.letter import find_font, letter_pdf
from arrears.compliance.port import Verdict, ask_for_message
from arrears.compliance.templates import TemplateBook
from arrears.domain import legal as dl
from arrears.domain.legal import LegalDocumentKind, LegalStatus
from arrears.domain.money import Money, parse_amount
from arrears.engine.legal_referral import NIGHTLY, hand_over
from arrears.formats import format_day, format_money
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.settlements import case_balance
from arrears.services.users import Role, find_user, team_queue_names
from arrears.store import tables as t
from arrears.store.tables_agency import placements
from arrears.store.tables_legal import legal_cases, legal_documents, legal_events, legal_rules

LEGAL_QUEUE = "legal"
LETTER_TEMPLATE = "demand_letter"


class LegalRuleInvalid(ValueError):
    pass


class LegalCaseNotFound(LookupError):
    def __init__(self, case_id: int) -> None:
        super().__init__(
            f"case {case_id} has never been in legal; refer it with `arrears legal refer`"
        )


class LegalReferralRefused(ValueError):
    """The case cannot be referred (closed, placed with an agency, in legal already …)."""


class LegalUserRefused(PermissionError):
    pass


class LegalLetterRequired(ValueError):
    def __init__(self, case_id: int) -> None:
        super().__init__(
            f"case {case_id} moves to demand_letter_sent when its demand letter is made: "
            f"`arrears legal letter {case_id}`"
        )


class LegalDocumentNotFound(LookupError):
    def __init__(self, document_id: int) -> None:
        super().__init__(f"no legal document {document_id}; `arrears legal list` shows them")


class LegalDocumentUnavailable(LookupError):
    """Erased by retention, or not the document that was made (its hash differs)."""


@dataclass(frozen=True)
class LegalRule:
    id: int
    min_dpd: int
    currency: str | None
    min_balance: int  # minor units of `currency`
    no_active_plan: bool
    priority: int
    active: bool


@dataclass(frozen=True)
class LegalEvent:
    from_status: LegalStatus | None
    to_status: LegalStatus
    business_date: date
    by: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class LegalDocument:
    id: int
    kind: LegalDocumentKind
    language: str
    sha256: str
    business_date: date
    created_by: str

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.id}-{self.language}.pdf"


@dataclass(frozen=True)
class LegalCase:
    id: int
    case_id: int
    status: LegalStatus
    rule_id: int | None
    referred_on: date
    referred_by: str
    dpd_at_referral: int
    currency: str
    balance_at_referral: int
    ended_on: date | None
    dpd: int  # the case's DPD now
    borrower_id: str
    documents: tuple[LegalDocument, ...] = ()
    events: tuple[LegalEvent, ...] = ()

    @property
    def next_statuses(self) -> tuple[LegalStatus, ...]:
        return tuple(s for s in dl.ORDER if s in dl.NEXT[self.status])


@dataclass(frozen=True)
class DemandLetter:
    verdict: Verdict
    document: LegalDocument | None  # None: the port did not allow it; nothing was made


# --- who may do what ------------------------------------------------------------------------


@dataclass(frozen=True)
class LegalAccess:
    view: bool  # list legal cases, read their documents, move them, make letters
    refer: bool  # refer a case by hand


def access_of(conn: Connection, username: str) -> LegalAccess:
    """Managers, and the members of a team working the `legal` queue; a team lead (or manager)
    refers by hand."""
    user = find_user(conn, username)
    if user is None or not user.active:
        return LegalAccess(False, False)
    if user.role is Role.MANAGER:
        return LegalAccess(True, True)
    legal_team = LEGAL_QUEUE in team_queue_names(conn, user.team_id)
    return LegalAccess(
        legal_team and user.role in (Role.AGENT, Role.TEAM_LEAD), user.role is Role.TEAM_LEAD
    )


def _require(conn: Connection, by: str, *, refer: bool = False) -> None:
    if by == NIGHTLY:
        raise LegalUserRefused(f"{NIGHTLY!r} is the daily run's name; act under your own user")
    granted = access_of(conn, by)
    if refer and not granted.refer:
        raise LegalUserRefused(
            f"{by!r} may not refer cases to legal; a team lead or a manager does"
        )
    if not refer and not granted.view:
        raise LegalUserRefused(
            f"{by!r} does not work the legal queue; a member of a team with the legal queue "
            "or a manager does"
        )


# --- rules ----------------------------------------------------------------------------------


def add_rule(
    conn: Connection,
    *,
    min_dpd: int,
    currency: str | None = None,
    min_balance: str = "0",
    no_active_plan: bool = True,
    priority: int = 100,
    by: str,
    at: datetime,
    ring: KeyRing,
) -> LegalRule:
    """A rule the daily run refers cases with: DPD ≥ `min_dpd`, and a balance of at least
    `min_balance` in `currency` (a decimal in the currency, e.g. "1000.00")."""
    if min_dpd < 1:
        raise LegalRuleInvalid(f"min DPD is at least 1, not {min_dpd}")
    minimum = 0
    if currency is not None:
        currency = currency.strip().upper()
        try:
            minimum = Money(parse_amount(min_balance, currency), currency).to_minor()
        except ValueError as exc:
            raise LegalRuleInvalid(f"minimum balance: {exc}") from None
        if minimum < 0:
            raise LegalRuleInvalid(f"a minimum balance is not negative, not {min_balance}")
    elif min_balance.strip() not in ("", "0"):
        raise LegalRuleInvalid("a minimum balance needs its currency (e.g. --currency CNY)")
    rule_id = conn.execute(
        insert(legal_rules)
        .values(
            min_dpd=min_dpd,
            currency=currency,
            min_balance=minimum,
            no_active_plan=no_active_plan,
            priority=priority,
            active=True,
            created_by=by,
            created_at=at,
        )
        .returning(legal_rules.c.id)
    ).scalar_one()
    _audit(
        conn,
        ring,
        by,
        at,
        f"legal-rule:{rule_id}",
        {
            "action": "rule_added",
            "min_dpd": min_dpd,
            "currency": currency,
            "min_balance": minimum,
            "no_active_plan": no_active_plan,
            "priority": priority,
        },
    )
    return next(r for r in list_rules(conn) if r.id == rule_id)


def list_rules(conn: Connection) -> list[LegalRule]:
    r = legal_rules.c
    return [
        LegalRule(
            x.id,
            x.min_dpd,
            x.currency,
            int(x.min_balance),
            bool(x.no_active_plan),
            x.priority,
            bool(x.active),
        )
        for x in conn.execute(select(legal_rules).order_by(r.priority, r.id))
    ]


# --- referral and moves ---------------------------------------------------------------------


def refer(
    conn: Connection,
    case_id: int,
    as_of: date,
    *,
    by: str,
    at: datetime,
    ring: KeyRing,
    note: str | None = None,
) -> LegalCase:
    """A team lead (or manager) refers a case to legal by hand — also one withdrawn before."""
    _require(conn, by, refer=True)
    c = t.cases.c
    case = conn.execute(select(t.cases).where(c.id == case_id)).first()
    if case is None:
        raise LegalReferralRefused(f"no case {case_id}")
    if case.status not in ("open", "charged_off"):
        raise LegalReferralRefused(
            f"case {case_id} is {case.status}; only an open or charged-off case goes to legal"
        )
    placed = conn.scalar(
        select(placements.c.agency_id).where(
            placements.c.case_id == case_id, placements.c.status == "placed"
        )
    )
    if placed is not None:
        raise LegalReferralRefused(
            f"case {case_id} is placed with agency {placed}; recall it first "
            f"(`arrears agency recall {case_id}`)"
        )
    live = _live_row(conn, case_id)
    if live is not None:
        raise LegalReferralRefused(f"case {case_id} is in legal already ({live.status})")
    balance = case_balance(conn, case_id)
    legal_id = conn.execute(
        insert(legal_cases)
        .values(
            case_id=case_id,
            status=LegalStatus.REFERRED.value,
            rule_id=None,
            referred_on=as_of,
            referred_by=by,
            dpd_at_referral=case.dpd,
            currency=case.currency,
            balance_at_referral=balance.to_minor(),
            queue_before=case.queue,
        )
        .returning(legal_cases.c.id)
    ).scalar_one()
    conn.execute(
        insert(legal_events).values(
            legal_case_id=legal_id,
            from_status=None,
            to_status=LegalStatus.REFERRED.value,
            business_date=as_of,
            by=by,
            at=at,
            note=note,
        )
    )
    hand_over(conn, as_of, at, by=by)
    _audit(
        conn,
        ring,
        by,
        at,
        f"case:{case_id}",
        {"action": "referred", "on": as_of.isoformat(), "dpd": case.dpd, "note": note},
    )
    return get_case(conn, case_id)


def advance(
    conn: Connection,
    case_id: int,
    to: LegalStatus | str,
    as_of: date,
    *,
    by: str,
    at: datetime,
    ring: KeyRing,
    note: str | None = None,
) -> LegalCase:
    """Move the case's legal case to `to` (an illegal move raises LegalTransitionInvalid, and
    nothing changes). Closed or withdrawn: the case leaves legal and returns to its queue."""
    _require(conn, by)
    wanted = dl.parse_status(to) if isinstance(to, str) else to
    row = _latest_row(conn, case_id)
    current = LegalStatus(row.status)
    dl.advance(current, wanted)
    if wanted is LegalStatus.DEMAND_LETTER_SENT:
        raise LegalLetterRequired(case_id)
    _move(conn, row, current, wanted, as_of, by, at, note)
    _audit(
        conn,
        ring,
        by,
        at,
        f"case:{case_id}",
        {"action": "moved", "from": current.value, "to": wanted.value, "note": note},
    )
    return get_case(conn, case_id)


def _move(
    conn: Connection,
    row: Any,
    current: LegalStatus,
    wanted: LegalStatus,
    as_of: date,
    by: str,
    at: datetime,
    note: str | None,
) -> None:
    ended = not dl.in_legal(wanted)
    lc = legal_cases.c
    changed = conn.execute(
        update(legal_cases)
        .where(lc.id == row.id, lc.status == current.value)
        .values(status=wanted.value, ended_on=as_of if ended else None)
    ).rowcount
    if not changed:  # another move came first
        raise dl.LegalTransitionInvalid(LegalStatus(_latest_row(conn, row.case_id).status), wanted)
    conn.execute(
        insert(legal_events).values(
            legal_case_id=row.id,
            from_status=current.value,
            to_status=wanted.value,
            business_date=as_of,
            by=by,
            at=at,
            note=note,
        )
    )
    if ended:  # back to the queue it came from (unless a lead moved it meanwhile)
        c = t.cases.c
        conn.execute(
            update(t.cases)
            .where(c.id == row.case_id, c.queue == LEGAL_QUEUE)
            .values(queue=row.queue_before)
        )


# --- the demand letter ----------------------------------------------------------------------


def lender_comms(channels: Path | None = None) -> CommsConfig:
    """What the letters say of the lender: the channels file's (`channels`, else
    $ARREARS_CHANNELS, else ./channels.yaml), else the defaults — as the dispatcher reads it."""
    candidate = channels or (
        Path(os.environ["ARREARS_CHANNELS"]) if os.environ.get("ARREARS_CHANNELS") else None
    )
    if candidate is None and Path("channels.yaml").exists():
        candidate = Path("channels.yaml")
    return load_channels_file(candidate).comms if candidate is not None else CommsConfig()


def send_demand_letter(
    conn: Connection,
    case_id: int,
    as_of: date,
    *,
    by: str,
    at: datetime,
    ring: KeyRing,
    comms: CommsConfig | None = None,
    font: Path | None = None,
    days: int = dl.DEMAND_DAYS,
) -> DemandLetter:
    """Ask the compliance port whether a letter may go to the borrower now; if so, make the
    demand letter (PDF, the borrower's language), keep it, and move the case to
    `demand_letter_sent`. Otherwise nothing is made: the verdict says why."""
    _require(conn, by)
    comms = comms or CommsConfig()
    row = _latest_row(conn, case_id)
    current = LegalStatus(row.status)
    dl.advance(current, LegalStatus.DEMAND_LETTER_SENT)
    font_file = find_font(font)  # fails before anything is recorded
    b = t.borrowers.c
    who = conn.execute(
        select(b.id, b.name_enc, b.address_enc, b.language)
        .select_from(t.borrowers.join(t.cases, t.cases.c.borrower_id == b.id))
        .where(t.cases.c.id == case_id)
    ).one()
    verdict = _ask_port(conn, case_id, str(who.id), as_of, at)
    if not verdict.allowed:
        return DemandLetter(verdict, None)
    lang = "en" if str(who.language).lower().startswith("en") else "zh-CN"
    balance = case_balance(conn, case_id)
    deadline = dl.demand_deadline(as_of, days)
    name = ring.decrypt(who.name_enc) or ""
    address = ring.decrypt(who.address_enc) or ""
    rendered = TemplateBook.load(conn).render(
        LETTER_TEMPLATE,
        "letter",
        lang,
        {
            "borrower_name": name,
            "balance": format_money(balance, lang),
            "currency": balance.currency,
            "deadline": format_day(deadline, lang),
            "lender_name": comms.lender(lang),
            "callback_number": comms.callback_number,
            "case_number": str(case_id),
        },
    )
    pdf = letter_pdf(
        font_file,
        to="\n".join(part for part in (name, address) if part),
        subject=rendered.subject,
        body=rendered.body,
        language=lang,
        day=as_of,
        key=f"legal-{row.id}",
        lender_name=comms.lender(lang),
    )
    digest = hashlib.sha256(pdf).hexdigest()
    doc_id = conn.execute(
        insert(legal_documents)
        .values(
            legal_case_id=row.id,
            kind=LegalDocumentKind.DEMAND_LETTER.value,
            language=lang,
            sha256=digest,
            content_enc=ring.encrypt(base64.b64encode(pdf).decode()),
            action_id=verdict.action_id,
            business_date=as_of,
            created_by=by,
            created_at=at,
        )
        .returning(legal_documents.c.id)
    ).scalar_one()
    _move(
        conn,
        row,
        current,
        LegalStatus.DEMAND_LETTER_SENT,
        as_of,
        by,
        at,
        None,  # the letter is the move's document (below); its deadline is in the audit entry
    )
    _audit(
        conn,
        ring,
        by,
        at,
        f"case:{case_id}",
        {
            "action": "demand_letter",
            "document": int(doc_id),
            "sha256": digest,
            "language": lang,
            "deadline": deadline.isoformat(),
        },
    )
    document = next(d for d in _documents(conn, row.id) if d.id == doc_id)
    return DemandLetter(verdict, document)


def _ask_port(
    conn: Connection, case_id: int, borrower_id: str, as_of: date, at: datetime
) -> Verdict:
    """The letter as an action of its own, judged by the port at send time and recorded: done
    when allowed, else blocked with the rule; a deferral is not left waiting in the lender's
    queues (the legal team asks again at the moment it names)."""
    return ask_for_message(
        conn,
        case_id=case_id,
        business_date=as_of,
        step=f"legal_letter_{at.astimezone(UTC):%H%M%S}_{uuid4().hex[:8]}",
        target_id=borrower_id,
        channel="letter",
        template=LETTER_TEMPLATE,
        at=at,
        deferred_status="cancelled",
    )


def document_pdf(
    conn: Connection, document_id: int, *, by: str, at: datetime, ring: KeyRing
) -> tuple[LegalDocument, bytes]:
    """A legal document's PDF (it names the borrower: reading it is audited)."""
    _require(conn, by)
    row = conn.execute(
        select(legal_documents, legal_cases.c.case_id)
        .join(legal_cases, legal_cases.c.id == legal_documents.c.legal_case_id)
        .where(legal_documents.c.id == document_id)
    ).first()
    if row is None:
        raise LegalDocumentNotFound(document_id)
    if row.content_enc is None:
        raise LegalDocumentUnavailable(
            f"legal document {document_id} was erased with the borrower's personal data "
            f"(retention); its SHA-256 was {row.sha256}"
        )
    pdf = base64.b64decode(ring.decrypt(row.content_enc) or "")
    if hashlib.sha256(pdf).hexdigest() != row.sha256:  # never hand out a changed document
        raise LegalDocumentUnavailable(
            f"legal document {document_id} does not match its SHA-256 {row.sha256}; "
            "restore it from a backup"
        )
    _audit(
        conn,
        ring,
        by,
        at,
        f"case:{row.case_id}",
        {"action": "document_read", "document": document_id, "sha256": row.sha256},
    )
    return _document(row), pdf


# --- reading --------------------------------------------------------------------------------


def _live_row(conn: Connection, case_id: int) -> Any:
    lc = legal_cases.c
    return conn.execute(
        select(legal_cases).where(lc.case_id == case_id, lc.ended_on.is_(None))
    ).first()


def _latest_row(conn: Connection, case_id: int) -> Any:
    lc = legal_cases.c
    row = conn.execute(
        select(legal_cases).where(lc.case_id == case_id).order_by(lc.id.desc()).limit(1)
    ).first()
    if row is None:
        raise LegalCaseNotFound(case_id)
    return row


def _document(row: Any) -> LegalDocument:
    return LegalDocument(
        row.id,
        LegalDocumentKind(row.kind),
        row.language,
        row.sha256,
        _day(row.business_date),
        row.created_by,
    )


def _documents(conn: Connection, legal_case_id: int) -> tuple[LegalDocument, ...]:
    d = legal_documents.c
    rows = conn.execute(
        select(d.id, d.kind, d.language, d.sha256, d.business_date, d.created_by)
        .where(d.legal_case_id == legal_case_id)
        .order_by(d.id)
    )
    return tuple(_document(r) for r in rows)


def _events(conn: Connection, legal_case_id: int) -> tuple[LegalEvent, ...]:
    e = legal_events.c
    rows = conn.execute(select(legal_events).where(e.legal_case_id == legal_case_id).order_by(e.id))
    return tuple(
        LegalEvent(
            LegalStatus(r.from_status) if r.from_status else None,
            LegalStatus(r.to_status),
            _day(r.business_date),
            r.by,
            _moment(r.at),
            r.note,
        )
        for r in rows
    )


def _day(value: Any) -> date:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def _moment(value: Any) -> datetime:
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _legal_case(row: Any, detail: Mapping[int, tuple[Any, Any]] | None = None) -> LegalCase:
    docs, events = (detail or {}).get(row.id, ((), ()))
    return LegalCase(
        row.id,
        row.case_id,
        LegalStatus(row.status),
        row.rule_id,
        _day(row.referred_on),
        row.referred_by,
        row.dpd_at_referral,
        row.currency,
        int(row.balance_at_referral),
        _day(row.ended_on) if row.ended_on is not None else None,
        row.dpd,
        row.borrower_id,
        docs,
        events,
    )


def _cases_query() -> Any:
    lc = legal_cases.c
    return select(legal_cases, t.cases.c.dpd, t.cases.c.borrower_id).join(
        t.cases, t.cases.c.id == lc.case_id
    )


def get_case(conn: Connection, case_id: int) -> LegalCase:
    """The case's latest legal case, with its documents and its moves."""
    row = _latest_row(conn, case_id)
    full = conn.execute(_cases_query().where(legal_cases.c.id == row.id)).one()
    return _legal_case(full, {row.id: (_documents(conn, row.id), _events(conn, row.id))})


def list_cases(
    conn: Connection, *, status: str | None = None, live_only: bool = True
) -> list[LegalCase]:
    """Legal cases (the live ones unless `live_only` is False), newest referral first, each
    with its documents."""
    lc = legal_cases.c
    stmt = _cases_query().order_by(lc.referred_on.desc(), lc.id.desc())
    if status is not None:
        stmt = stmt.where(lc.status == dl.parse_status(status).value)
    elif live_only:
        stmt = stmt.where(lc.ended_on.is_(None))
    rows = conn.execute(stmt).all()
    d = legal_documents.c
    docs: dict[int, list[LegalDocument]] = {}
    ids = [r.id for r in rows]
    if ids:
        for r in conn.execute(
            select(
                legal_documents.c.legal_case_id,
                d.id,
                d.kind,
                d.language,
                d.sha256,
                d.business_date,
                d.created_by,
            )
            .where(d.legal_case_id.in_(ids))
            .order_by(d.id)
        ):
            docs.setdefault(r.legal_case_id, []).append(_document(r))
    return [_legal_case(r, {r.id: (tuple(docs.get(r.id, ())), ())}) for r in rows]


def counts_by_status(conn: Connection) -> dict[LegalStatus, int]:
    lc = legal_cases.c
    rows = conn.execute(select(lc.status, func.count()).group_by(lc.status))
    return {LegalStatus(s): int(n) for s, n in rows}


def balance_text(minor: int, currency: str, language: str) -> str:
    return format_money(Money.from_minor(minor, currency), language)


def _audit(
    conn: Connection, ring: KeyRing, by: str, at: datetime, subject: str, detail: dict[str, object]
) -> None:
    audit.append(
        conn, ring, actor=by, kind=audit.AuditKind.LEGAL, subject=subject, detail=detail, at=at
    )
