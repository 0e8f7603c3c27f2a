"""The late stages over the API (read-only, `cases:read`): what was written off — charge-offs
and settlements — for the lender's ledger, the recoveries after charge-off, and a case's
settlement offers. Amounts are plain decimals beside their currency (docs/late-stages.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from arrears.api.context import Context, context_of
from arrears.api.problems import ProblemError
from arrears.api.schemas import Day
from arrears.api.security import require
from arrears.formats import plain_amount
from arrears.services import recoveries as rec
from arrears.services import settlements as svc
from arrears.services.auth import Integration, Scope

router = APIRouter(tags=["late stages"])  # under /api/v1 (routes.py)

Ctx = Annotated[Context, Depends(context_of)]
Reader = Annotated[Integration, Depends(require(Scope.CASES_READ))]
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
From = Annotated[Day, Query(alias="from")]
To = Annotated[Day, Query(alias="to")]


class WriteOffOut(BaseModel):
    account_id: str
    reason: str  # charge_off | settlement
    business_date: date
    case_id: int | None
    offer_id: int | None
    currency: str
    amount: str
    dpd: int


class RecoveryOut(BaseModel):
    account_id: str
    currency: str
    charged_off_on: date
    charged_off: str
    payments: int
    recovered: str
    applied: str


class OfferOut(BaseModel):
    id: int
    case_id: int
    status: str
    currency: str
    balance: str
    amount: str
    pay_pct: str
    proposed_on: date
    due_on: date
    proposed_by: str
    approved_by: str | None
    paid: str
    ended_on: date | None


def _period(start: date, end: date) -> None:
    if start > end:
        raise ProblemError(422, "period-invalid", str(rec.RecoveryPeriodInvalid(start, end)))


@router.get("/write-offs", response_model=list[WriteOffOut])
def get_write_offs(
    ctx: Ctx,
    _: Reader,
    start: From,
    end: To,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> list[WriteOffOut]:
    """Charge-offs and settlement write-offs booked from `from` to `to`, by date and account."""
    _period(start, end)
    with ctx.begin() as conn:
        rows = rec.write_offs_between(conn, start, end, offset=offset, limit=limit)
    return [
        WriteOffOut(
            account_id=w.account_id,
            reason=w.reason,
            business_date=w.business_date,
            case_id=w.case_id,
            offer_id=w.offer_id,
            currency=w.currency,
            amount=plain_amount(w.amount, w.currency),
            dpd=w.dpd,
        )
        for w in rows
    ]


@router.get("/recoveries", response_model=list[RecoveryOut])
def get_recoveries(ctx: Ctx, _: Reader, start: From, end: To) -> list[RecoveryOut]:
    """Payments on charged-off accounts booked from `from` to `to`, per account."""
    _period(start, end)
    with ctx.begin() as conn:
        rows = rec.recoveries(conn, start, end)
    return [
        RecoveryOut(
            account_id=r.account_id,
            currency=r.currency,
            charged_off_on=r.charged_off_on,
            charged_off=plain_amount(r.charged_off, r.currency),
            payments=r.payments,
            recovered=plain_amount(r.recovered, r.currency),
            applied=plain_amount(r.applied, r.currency),
        )
        for r in rows
    ]


@router.get("/cases/{case_id}/settlement-offers", response_model=list[OfferOut])
def get_offers(case_id: CaseId, ctx: Ctx, _: Reader) -> list[OfferOut]:
    """The case's settlement offers, oldest first."""
    with ctx.begin() as conn:
        try:
            offers = svc.offers_of_case(conn, case_id)
        except svc.SettlementCaseNotFound:
            raise ProblemError(404, "case-unknown", f"no case {case_id}") from None
    return [
        OfferOut(
            id=o.id,
            case_id=o.case_id,
            status=o.status,
            currency=o.currency,
            balance=plain_amount(o.balance.to_minor(), o.currency),
            amount=plain_amount(o.amount.to_minor(), o.currency),
            pay_pct=str(o.pay_pct),
            proposed_on=o.proposed_on,
            due_on=o.due_on,
            proposed_by=o.proposed_by,
            approved_by=o.approved_by,
            paid=plain_amount(o.paid.to_minor(), o.currency),
            ended_on=o.ended_on,
        )
        for o in offers
    ]
