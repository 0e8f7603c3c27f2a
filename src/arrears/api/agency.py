"""The agency API (`/api/v1/agency`): an external collection agency, with a token bound to it
(`arrears agency token`), reads only the cases placed with it now, reports payments (once per
its payment reference) and outcomes, and asks the compliance port before each call or message.
A case that is not placed with the token's agency — another agency's, a recalled one, none —
is 404: the agency cannot tell them apart."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from arrears.api.context import Context, context_of
from arrears.api.problems import FieldError, ProblemError, field_error
from arrears.api.schemas import Amount, Currency, Day, Id, Strict
from arrears.api.security import require
from arrears.domain.outcomes import OutcomeInvalid
from arrears.formats import plain_amount
from arrears.services import agency_portal as portal
from arrears.services import import_formats as fmt
from arrears.services.agencies import agency_of_token
from arrears.services.auth import Integration, Scope

router = APIRouter(prefix="/agency", tags=["agency"])  # under /api/v1 (routes.py)

Ctx = Annotated[Context, Depends(context_of)]
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def agency_of(ctx: Ctx, integration: Annotated[Integration, Depends(require(Scope.AGENCY))]) -> str:
    """The agency the token is bound to; a token of the lender's own systems has none."""
    with ctx.begin() as conn:
        agency = agency_of_token(conn, integration.token_id)
    if agency is None:
        raise ProblemError(403, "agency-token-unbound", "this token is bound to no active agency")
    return agency


Agency = Annotated[str, Depends(agency_of)]


class AgencyCaseOut(BaseModel):
    case_id: int
    placed_on: date
    dpd_at_placement: int
    dpd: int
    currency: str
    overdue_amount: str
    outstanding: str
    accounts: list[str]
    name: str
    phone: str
    identity_shared: bool = Field(
        description="false: name and phone are masked under the borrower's rule pack"
    )
    language: str
    timezone: str


class AgencyPaymentIn(Strict):
    reference: Id = Field(description="the agency's own payment reference: unique per agency")
    account_id: Id
    amount: Amount
    currency: Currency
    received_on: Day


class AgencyPaymentOut(BaseModel):
    payment_id: str
    reference: str
    case_id: int
    account_id: str
    amount: str
    currency: str
    received_on: date


class AgencyOutcomeIn(Strict):
    outcome: Literal[
        "right_party",
        "no_answer",
        "busy",
        "wrong_number",
        "out_of_service",
        "refused",
        "message_left",
        "promise",
        "dispute",
        "hardship",
    ]
    channel: Literal["call", "sms"] = "call"
    hardship: Literal["illness", "job_loss", "income_drop", "bereavement", "disaster", "other"] | (
        None
    ) = None
    note: Annotated[str | None, Field(max_length=2000)] = None


class AgencyOutcomeOut(BaseModel):
    interaction_id: int
    case_id: int
    outcome: str


class AskIn(Strict):
    channel: Literal["call", "sms"]


class VerdictOut(BaseModel):
    verdict: Literal["allow", "defer", "block"]
    rule_id: str | None = None
    reason: str | None = None
    next_allowed_at: datetime | None = None
    pack: str | None = None


def _case_out(v: portal.CaseView) -> AgencyCaseOut:
    return AgencyCaseOut(
        case_id=v.case_id,
        placed_on=v.placed_on,
        dpd_at_placement=v.dpd_at_placement,
        dpd=v.dpd,
        currency=v.currency,
        overdue_amount=plain_amount(v.overdue, v.currency),
        outstanding=plain_amount(v.outstanding, v.currency),
        accounts=list(v.accounts),
        name=v.name,
        phone=v.phone,
        identity_shared=v.identity_shared,
        language=v.language,
        timezone=v.timezone,
    )


def _not_placed(case_id: int) -> ProblemError:
    return ProblemError(404, "case-not-placed", f"case {case_id} is not placed with your agency")


@router.get("/cases", response_model=list[AgencyCaseOut])
def get_agency_cases(ctx: Ctx, agency: Agency) -> list[AgencyCaseOut]:
    """The cases placed with your agency now (a recalled case is no longer listed)."""
    with ctx.begin() as conn:
        views = portal.cases_of(conn, ctx.app.keyring, agency)
    return [_case_out(v) for v in views]


@router.get("/cases/{case_id}", response_model=AgencyCaseOut)
def get_agency_case(case_id: CaseId, ctx: Ctx, agency: Agency) -> AgencyCaseOut:
    with ctx.begin() as conn:
        try:
            return _case_out(portal.case_of(conn, ctx.app.keyring, agency, case_id))
        except portal.CaseNotPlaced:
            raise _not_placed(case_id) from None


def _minor(body: AgencyPaymentIn) -> int:
    try:
        fmt.currency(body.currency)
    except fmt.FieldInvalid as exc:
        raise field_error("body.currency", str(exc)) from None
    try:
        minor = fmt.amount_minor(body.amount.strip(), body.currency)
    except fmt.FieldInvalid as exc:
        raise field_error("body.amount", str(exc)) from None
    if minor <= 0:
        raise field_error("body.amount", "must be greater than zero")
    return minor


def _duplicate(exc: portal.AgencyPaymentDuplicate) -> ProblemError:
    return ProblemError(
        409,
        "agency-payment-duplicate",
        str(exc),
        errors=[FieldError(field="body.reference", detail="reported already")],
    )


@router.post("/cases/{case_id}/payments", response_model=AgencyPaymentOut, status_code=201)
def post_agency_payment(
    case_id: CaseId, body: AgencyPaymentIn, ctx: Ctx, agency: Agency
) -> AgencyPaymentOut:
    """A payment your agency collected; the daily run posts it. A reference reported before is
    refused (409) and nothing is posted twice."""
    minor = _minor(body)
    try:
        with ctx.begin() as conn:
            paid = portal.report_payment(
                conn,
                agency,
                case_id,
                reference=body.reference,
                account_id=body.account_id,
                amount=minor,
                currency=body.currency,
                received_on=body.received_on,
                at=ctx.now(),
            )
    except portal.CaseNotPlaced:
        raise _not_placed(case_id) from None
    except portal.AgencyPaymentDuplicate as exc:
        raise _duplicate(exc) from None
    except portal.AgencyPaymentInvalid as exc:
        raise field_error(f"body.{exc.field}", str(exc)) from None
    except IntegrityError:  # a concurrent twin with the same reference won
        pid = portal.payment_id_of(agency, body.reference)
        raise _duplicate(portal.AgencyPaymentDuplicate(body.reference, pid)) from None
    return AgencyPaymentOut(
        payment_id=paid.payment_id,
        reference=paid.reference,
        case_id=paid.case_id,
        account_id=paid.account_id,
        amount=plain_amount(paid.amount, paid.currency),
        currency=paid.currency,
        received_on=paid.received_on,
    )


@router.post("/cases/{case_id}/outcomes", response_model=AgencyOutcomeOut, status_code=201)
def post_agency_outcome(
    case_id: CaseId, body: AgencyOutcomeIn, ctx: Ctx, agency: Agency
) -> AgencyOutcomeOut:
    """What your call or message to the borrower came to. A dispute pauses collection until
    the lender verifies the debt or the borrower withdraws it."""
    try:
        with ctx.begin() as conn:
            interaction = portal.report_outcome(
                conn,
                agency,
                case_id,
                outcome=body.outcome,
                channel=body.channel,
                hardship=body.hardship,
                note=body.note,
                business_date=ctx.today(conn),
                at=ctx.now(),
            )
    except portal.CaseNotPlaced:
        raise _not_placed(case_id) from None
    except OutcomeInvalid as exc:
        raise field_error("body.outcome", str(exc)) from None
    return AgencyOutcomeOut(interaction_id=interaction, case_id=case_id, outcome=body.outcome)


@router.post("/cases/{case_id}/ask", response_model=VerdictOut)
def post_agency_ask(case_id: CaseId, body: AskIn, ctx: Ctx, agency: Agency) -> VerdictOut:
    """Before each call or message: may it go out now? The rule pack's verdict — allow, defer
    (to `next_allowed_at`) or block, with the rule — recorded as the lender's own would be."""
    try:
        with ctx.begin() as conn:
            verdict = portal.ask(conn, agency, case_id, body.channel, ctx.now())
    except portal.CaseNotPlaced:
        raise _not_placed(case_id) from None
    return VerdictOut(
        verdict=verdict.kind.value,
        rule_id=verdict.rule_id,
        reason=verdict.reason,
        next_allowed_at=verdict.next_allowed_at,
        pack=verdict.pack,
    )
