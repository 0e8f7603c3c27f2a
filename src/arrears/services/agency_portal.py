"""What an agency sees of its placed cases and what it reports back (the agency API and the
placement file use the same view). It sees only the cases placed with it now; the borrower's
name and phone in full only when the borrower's rule pack lets the lender share them with an
agency, else masked; never the contact persons. Payments go the normal payment path (the daily
run posts them), once per agency payment reference; outcomes are the agents' outcomes (a
dispute goes through the disputes service); before each call or message the agency asks the
compliance port and gets the same verdict the lender's own outreach gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from uuid import uuid4

from sqlalchemy import Connection, func, insert, select, update

from arrears.compliance.loading import PackChoice, load_pack, pack_choice
from arrears.compliance.port import Verdict, VerdictKind, ask_for_message, check_dial
from arrears.domain.outcomes import Target
from arrears.domain.phone import mask_name, mask_phone
from arrears.privacy.keyring import KeyRing
from arrears.services import feed, feed_rules
from arrears.services.agencies import Placement, placed_case, placements_of
from arrears.services.auth import sha256
from arrears.services.outcomes import record_outcome
from arrears.store import tables as t
from arrears.store.tables_agency import agency_payments


class CaseNotPlaced(LookupError):
    def __init__(self, case_id: int) -> None:
        super().__init__(f"case {case_id} is not placed with this agency")


class AgencyPaymentDuplicate(ValueError):
    def __init__(self, reference: str, payment_id: str) -> None:
        self.payment_id = payment_id
        super().__init__(
            f"payment reference {reference!r} was reported already (payment {payment_id}); "
            "nothing was posted again"
        )


class AgencyPaymentInvalid(ValueError):
    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        super().__init__(f"{field}: {detail}")


class AgencyChannel(StrEnum):
    """How an agency reaches the borrower: by phone, or a text message."""

    CALL = "call"
    SMS = "sms"


@dataclass(frozen=True)
class CaseView:
    case_id: int
    placed_on: date
    dpd_at_placement: int
    dpd: int
    currency: str
    overdue: int  # minor units, today
    outstanding: int  # minor units, every account of the case
    accounts: tuple[str, ...]
    name: str
    phone: str
    identity_shared: bool  # False: name and phone are masked under the borrower's pack
    language: str
    timezone: str


@dataclass(frozen=True)
class AgencyPayment:
    payment_id: str
    reference: str
    case_id: int
    account_id: str
    amount: int
    currency: str
    received_on: date


def _accounts(conn: Connection, borrower_id: str, currency: str) -> list[tuple[str, int]]:
    a = t.accounts.c
    rows = conn.execute(
        select(a.id, a.outstanding)
        .where(a.borrower_id == borrower_id, a.currency == currency)
        .order_by(a.id)
    )
    return [(r.id, r.outstanding) for r in rows]


def view(
    conn: Connection, ring: KeyRing, placement: Placement, choice: PackChoice | None = None
) -> CaseView:
    """The case as the agency sees it; `choice` (the portfolio's packs, read once for many
    cases) decides, by the borrower's jurisdiction, whether name and phone are shared."""
    c, b = t.cases.c, t.borrowers.c
    row = conn.execute(
        select(
            c.borrower_id,
            c.dpd,
            c.currency,
            c.overdue_amount,
            b.name_enc,
            b.phone_enc,
            b.language,
            b.timezone,
            b.jurisdiction,
        )
        .join(t.borrowers, t.borrowers.c.id == c.borrower_id)
        .where(c.id == placement.case_id)
    ).one()
    choice = choice or pack_choice(conn)
    shared = load_pack(choice.code_for(row.jurisdiction)).agency_identity
    name = ring.decrypt(row.name_enc) or ""
    phone = ring.decrypt(row.phone_enc) or ""
    accounts = _accounts(conn, row.borrower_id, row.currency)
    return CaseView(
        case_id=placement.case_id,
        placed_on=placement.placed_on,
        dpd_at_placement=placement.dpd,
        dpd=row.dpd,
        currency=row.currency,
        overdue=row.overdue_amount,
        outstanding=sum(o for _, o in accounts),
        accounts=tuple(a for a, _ in accounts),
        name=name if shared else mask_name(name),
        phone=phone if shared else mask_phone(phone),
        identity_shared=shared,
        language=row.language,
        timezone=row.timezone,
    )


def cases_of(conn: Connection, ring: KeyRing, agency_id: str) -> list[CaseView]:
    """The agency's cases placed now, in case order."""
    choice = pack_choice(conn)
    return [view(conn, ring, p, choice) for p in placements_of(conn, agency_id=agency_id)]


def case_of(conn: Connection, ring: KeyRing, agency_id: str, case_id: int) -> CaseView:
    return view(conn, ring, _placed(conn, agency_id, case_id))


def _placed(conn: Connection, agency_id: str, case_id: int) -> Placement:
    placement = placed_case(conn, agency_id, case_id)
    if placement is None:
        raise CaseNotPlaced(case_id)
    return placement


# --- payments -------------------------------------------------------------------------------------


def payment_id_of(agency_id: str, reference: str) -> str:
    """The platform's payment id of an agency's payment: one per agency and reference."""
    return f"ag-{agency_id}-{sha256(reference)[:24]}"


def report_payment(
    conn: Connection,
    agency_id: str,
    case_id: int,
    *,
    reference: str,
    account_id: str,
    amount: int,
    currency: str,
    received_on: date,
    at: datetime,
) -> AgencyPayment:
    """Record a payment the agency collected on its case (the daily run posts it by the
    account's waterfall). A reference reported before is refused: nothing is posted twice."""
    placement = _placed(conn, agency_id, case_id)
    payment_id = payment_id_of(agency_id, reference)
    k = agency_payments.c
    if conn.scalar(select(k.id).where(k.agency_id == agency_id, k.reference == reference)):
        raise AgencyPaymentDuplicate(reference, payment_id)
    borrower = conn.scalar(select(t.cases.c.borrower_id).where(t.cases.c.id == case_id))
    owner = conn.execute(
        select(t.accounts.c.borrower_id, t.accounts.c.currency).where(t.accounts.c.id == account_id)
    ).first()
    if owner is None or owner.borrower_id != borrower:
        raise AgencyPaymentInvalid("account_id", f"account {account_id!r} is not of case {case_id}")
    if owner.currency != currency:
        raise AgencyPaymentInvalid("currency", f"the account is booked in {owner.currency}")
    if received_on < placement.placed_on:
        raise AgencyPaymentInvalid(
            "received_on", f"before the case was placed ({placement.placed_on})"
        )
    breaches = feed_rules.check_payment(conn, account_id, amount, currency, received_on)
    if breaches:
        raise AgencyPaymentInvalid(breaches[0].column, breaches[0].message)
    feed.record_payment(conn, payment_id, account_id, amount, currency, received_on, "agency")
    conn.execute(
        insert(agency_payments).values(
            agency_id=agency_id,
            reference=reference,
            placement_id=placement.id,
            payment_id=payment_id,
            reported_at=at,
        )
    )
    return AgencyPayment(payment_id, reference, case_id, account_id, amount, currency, received_on)


def payments_reported(conn: Connection, agency_id: str) -> int:
    k = agency_payments.c
    return int(conn.scalar(select(func.count()).where(k.agency_id == agency_id)) or 0)


# --- outcomes and the compliance port ------------------------------------------------------------


def agent_of(agency_id: str) -> str:
    """How the agency's work is named in the case's history (interactions, dial decisions)."""
    return f"agency:{agency_id}"


def report_outcome(
    conn: Connection,
    agency_id: str,
    case_id: int,
    *,
    outcome: str,
    business_date: date,
    at: datetime,
    channel: str = AgencyChannel.CALL,
    hardship: str | None = None,
    note: str | None = None,
) -> int:
    """Record what the agency's call or message to the borrower came to (the outcomes of the
    lender's own agents; a dispute pauses collection through the disputes service). The
    interaction's id."""
    _placed(conn, agency_id, case_id)
    borrower = conn.scalar(select(t.cases.c.borrower_id).where(t.cases.c.id == case_id))
    result = record_outcome(
        conn,
        case_id=case_id,
        target_type=Target.BORROWER.value,
        target_id=str(borrower),
        channel=AgencyChannel(channel).value,
        outcome=outcome,
        at=at,
        business_date=business_date,
        agent=agent_of(agency_id),
        hardship=hardship,
        note=note,
    )
    return result.interaction_id


def ask(conn: Connection, agency_id: str, case_id: int, channel: str, at: datetime) -> Verdict:
    """May the agency call (or text) the borrower of its case now? The compliance port's
    verdict, recorded as the lender's own would be (the pack's caps count the agency's calls)."""
    _placed(conn, agency_id, case_id)
    how = AgencyChannel(channel)
    if how is AgencyChannel.CALL:
        verdict = check_dial(
            conn,
            case_id=case_id,
            target=Target.BORROWER.value,
            contact_id=None,
            at=at,
            agent=agent_of(agency_id).replace(":", "_"),
            agency=agency_id,
        )
    else:
        verdict = _ask_message(conn, agency_id, case_id, at)
    _not_the_lenders(conn, verdict)
    return verdict


def _not_the_lenders(conn: Connection, verdict: Verdict) -> None:
    """A deferred agency call or message is the agency's to ask again; it must not wait in the
    lender's queues or outbox as a deferred action of the lender's."""
    if verdict.kind is VerdictKind.DEFER and verdict.action_id is not None:
        conn.execute(
            update(t.actions)
            .where(t.actions.c.id == verdict.action_id, t.actions.c.status == "deferred")
            .values(status="cancelled", reason=f"agency asked again later: {verdict.reason}")
        )


def _ask_message(conn: Connection, agency_id: str, case_id: int, at: datetime) -> Verdict:
    """A text message is judged at send time as the dispatcher's are: an action of its own,
    done when allowed, else deferred or blocked with the rule."""
    borrower = conn.scalar(select(t.cases.c.borrower_id).where(t.cases.c.id == case_id))
    day = conn.scalar(select(func.max(t.run_log.c.business_date)))
    business = date.fromisoformat(str(day)[:10]) if day is not None else at.date()
    return ask_for_message(
        conn,
        case_id=case_id,
        business_date=business,
        step=f"agency_sms_{agency_id}_{at.astimezone(UTC):%H%M%S}_{uuid4().hex[:8]}",
        target_id=str(borrower),
        channel=AgencyChannel.SMS.value,
        template="agency_sms",
        at=at,
    )
