"""Settlement offers on a case: propose, approve beyond a role's limit, cancel, list.

The proposer and the approver are users of the platform: their role (from their account, not
from what they say) sets the discount they may grant (`DiscountLimits`). The daily run decides
the offers from the payments (`engine/settlement_offers.py`): an approved offer paid in full by
its due date closes the case `settled`; one not paid by then lapses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from arrears.domain.money import Money
from arrears.domain.settlement_offers import (
    HUNDRED,
    DiscountLimits,
    OfferStatus,
    OfferTerms,
    SettlementOffer,
    SettlementOfferInvalid,
    approve,
    propose,
)
from arrears.services.users import find_user
from arrears.store import tables as t
from arrears.store.tables_late import settlement_offers as so

_PPM = Decimal(1_000_000)
_LIVE = (OfferStatus.PROPOSED, OfferStatus.APPROVED)
_OPEN_CASE = ("open", "charged_off")


class SettlementCaseNotFound(LookupError):
    def __init__(self, case_id: int) -> None:
        super().__init__(f"no case {case_id}; find it with `arrears cases --as-of DATE`")


class SettlementCaseClosed(ValueError):
    def __init__(self, case_id: int, status: str) -> None:
        super().__init__(f"case {case_id} is {status}; only an open or charged-off case is settled")


class SettlementOfferNotFound(LookupError):
    def __init__(self, offer_id: int) -> None:
        super().__init__(f"no settlement offer {offer_id}; see `arrears settlement list`")


class SettlementOfferExists(ValueError):
    def __init__(self, case_id: int, offer_id: int, status: str) -> None:
        super().__init__(
            f"case {case_id} already has offer {offer_id} ({status}); cancel it first with "
            f"`arrears settlement cancel {offer_id}`"
        )


class SettlementUserUnknown(LookupError):
    def __init__(self, username: str) -> None:
        super().__init__(
            f"{username!r} is not an active user; offers are made and approved by users "
            "(`arrears users add`)"
        )


@dataclass(frozen=True)
class OfferRecord:
    id: int
    case_id: int
    status: OfferStatus
    currency: str
    balance: Money
    amount: Money
    pay_pct: Decimal
    proposed_on: date
    due_on: date
    proposed_by: str
    approved_by: str | None
    paid: Money
    ended_on: date | None

    @property
    def discount_pct(self) -> Decimal:
        return HUNDRED - self.pay_pct


def _role(conn: Connection, username: str) -> str:
    user = find_user(conn, username)
    if user is None or not user.active:
        raise SettlementUserUnknown(username)
    return str(user.role)


def configured_limits() -> DiscountLimits:
    """The lender's limits from $ARREARS_SETTLEMENT_LIMITS (agent=10,team_lead=30,...), else
    the defaults."""
    text = os.environ.get("ARREARS_SETTLEMENT_LIMITS", "").strip()
    return DiscountLimits.parse(text) if text else DiscountLimits()


def case_balance(conn: Connection, case_id: int) -> Money:
    """Everything the case's accounts in its currency still owe, due or not (sold ones aside)."""
    case = _case(conn, case_id)
    i, a = t.due_items, t.accounts
    owed = sum(i.c[c] - i.c[f"paid_{c}"] for c in ("principal", "interest", "fee", "penalty"))
    total = conn.execute(
        select(func.coalesce(func.sum(owed), 0))
        .select_from(i.join(a, a.c.id == i.c.account_id))
        .where(
            a.c.borrower_id == case.borrower_id,
            a.c.currency == case.currency,
            a.c.status != "sold",
        )
    ).scalar_one()
    return Money.from_minor(int(total), case.currency)


def offer_settlement(
    conn: Connection,
    *,
    case_id: int,
    pay_pct: Decimal,
    due_on: date,
    on: date,
    by: str,
    limits: DiscountLimits | None = None,
    note: str | None = None,
) -> OfferRecord:
    """Offer to settle the case for pay_pct of its balance; approved at once within the
    proposer's limit, else waiting for a role allowed the discount."""
    case = _case(conn, case_id)
    if case.status not in _OPEN_CASE:
        raise SettlementCaseClosed(case_id, case.status)
    live = conn.execute(
        select(so.c.id, so.c.status).where(so.c.case_id == case_id, so.c.status.in_(_LIVE))
    ).first()
    if live is not None:
        raise SettlementOfferExists(case_id, live.id, live.status)
    role = _role(conn, by)
    offer = propose(
        case_balance(conn, case_id),
        OfferTerms(pay_pct=_pct(pay_pct), due_on=due_on),
        on=on,
        by=by,
        role=role,
        limits=limits or DiscountLimits(),
    )
    approved = offer.status is OfferStatus.APPROVED
    offer_id = conn.execute(
        insert(so)
        .values(
            case_id=case_id,
            status=offer.status,
            currency=offer.balance.currency,
            balance=offer.balance.to_minor(),
            amount=offer.amount.to_minor(),
            pay_ppm=int(offer.terms.pay_pct * _PPM / HUNDRED),
            proposed_on=on,
            due_on=due_on,
            proposed_by=by,
            proposer_role=role,
            approved_by=by if approved else None,
            approved_role=role if approved else None,
            approved_on=on if approved else None,
            note=note,
        )
        .returning(so.c.id)
    ).scalar_one()
    return get_offer(conn, offer_id)


def approve_settlement(
    conn: Connection, offer_id: int, *, by: str, on: date, limits: DiscountLimits | None = None
) -> OfferRecord:
    """proposed → approved by another user whose role's limit covers the discount."""
    record = get_offer(conn, offer_id)
    role = _role(conn, by)
    approved = approve(_domain(record), by=by, role=role, on=on, limits=limits or DiscountLimits())
    conn.execute(
        update(so)
        .where(so.c.id == offer_id, so.c.status == OfferStatus.PROPOSED)
        .values(status=approved.status, approved_by=by, approved_role=role, approved_on=on)
    )
    return get_offer(conn, offer_id)


def cancel_settlement(conn: Connection, offer_id: int, *, on: date) -> OfferRecord:
    record = get_offer(conn, offer_id)
    if record.status not in _LIVE:
        raise SettlementOfferInvalid(
            f"offer {offer_id} is already {record.status}; only a live offer is cancelled"
        )
    conn.execute(
        update(so).where(so.c.id == offer_id).values(status=OfferStatus.CANCELLED, ended_on=on)
    )
    return get_offer(conn, offer_id)


def get_offer(conn: Connection, offer_id: int) -> OfferRecord:
    row = conn.execute(select(so).where(so.c.id == offer_id)).first()
    if row is None:
        raise SettlementOfferNotFound(offer_id)
    return _record(row)


def list_offers(
    conn: Connection, *, status: str | None = None, case_id: int | None = None
) -> list[OfferRecord]:
    query = select(so).order_by(so.c.id)
    if status is not None:
        query = query.where(so.c.status == OfferStatus(status))
    if case_id is not None:
        query = query.where(so.c.case_id == case_id)
    return [_record(r) for r in conn.execute(query)]


def offers_of_case(conn: Connection, case_id: int) -> list[OfferRecord]:
    """The case's offers, oldest first; SettlementCaseNotFound for no such case."""
    _case(conn, case_id)
    return list_offers(conn, case_id=case_id)


def _pct(value: Decimal) -> Decimal:
    """A share in percent with at most four decimals (what parts per million hold)."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise SettlementOfferInvalid(f"share to pay {value!r} is not a decimal percentage")
    if value != value.quantize(Decimal("0.0001")):
        raise SettlementOfferInvalid(f"share to pay {value}% has more than four decimals")
    return value


def _case(conn: Connection, case_id: int) -> Any:
    row = conn.execute(
        select(t.cases.c.borrower_id, t.cases.c.currency, t.cases.c.status).where(
            t.cases.c.id == case_id
        )
    ).first()
    if row is None:
        raise SettlementCaseNotFound(case_id)
    return row


def _record(row: object) -> OfferRecord:
    m = row._mapping  # type: ignore[attr-defined]
    cur = m["currency"]
    return OfferRecord(
        id=m["id"],
        case_id=m["case_id"],
        status=OfferStatus(m["status"]),
        currency=cur,
        balance=Money.from_minor(m["balance"], cur),
        amount=Money.from_minor(m["amount"], cur),
        pay_pct=Decimal(m["pay_ppm"]) / (_PPM / HUNDRED),
        proposed_on=m["proposed_on"],
        due_on=m["due_on"],
        proposed_by=m["proposed_by"],
        approved_by=m["approved_by"],
        paid=Money.from_minor(m["paid_amount"], cur),
        ended_on=m["ended_on"],
    )


def _domain(record: OfferRecord) -> SettlementOffer:
    return SettlementOffer(
        balance=record.balance,
        terms=OfferTerms(pay_pct=record.pay_pct, due_on=record.due_on),
        proposed_on=record.proposed_on,
        proposed_by=record.proposed_by,
        proposer_role="",
        status=record.status,
        approved_by=record.approved_by,
    )
