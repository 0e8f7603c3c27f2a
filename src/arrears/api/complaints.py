"""The complaints register over the API: the lender's systems report a complaint received
elsewhere (a branch, the regulator's portal, an agency) with `borrowers:write`, and read the
register and its report with `cases:read`. What the borrower said and what was answered stay in
the register: the API gives the figures, never the text (docs/complaints.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from arrears.api.context import Context, context_of
from arrears.api.problems import ProblemError
from arrears.api.schemas import Day, Id, Strict
from arrears.api.security import require
from arrears.compliance.loading import RulePackUnavailable
from arrears.services import complaints as svc
from arrears.services import feed
from arrears.services.auth import Integration, Scope

router = APIRouter(tags=["complaints"])  # under /api/v1 (routes.py)

Ctx = Annotated[Context, Depends(context_of)]
Reader = Annotated[Integration, Depends(require(Scope.CASES_READ))]
Writer = Annotated[Integration, Depends(require(Scope.BORROWERS_WRITE))]


class ComplaintIn(Strict):
    """A complaint the borrower made by one of the channels, in one of the categories."""

    received_on: Day
    channel: svc.ComplaintChannel
    category: svc.ComplaintCategory
    summary: Annotated[str, Field(min_length=1, max_length=svc.SUMMARY_MAX)]
    pause_outreach: bool = False


class ComplaintOut(BaseModel):
    id: int
    borrower_id: str
    case_id: int | None
    received_on: date
    channel: str
    category: str
    pause_outreach: bool
    owner: str | None
    due_on: date
    status: str
    overdue: bool
    answered_on: date | None
    outcome: str | None
    closed_on: date | None


class MonthOut(BaseModel):
    month: str
    received: int
    answered: int
    answered_late: int
    median_days_to_answer: float | None


class ReportOut(BaseModel):
    on: date
    total: int
    open: int
    overdue: int
    answered: int
    closed: int
    answered_late: int
    median_days_to_answer: float | None
    by_category: dict[str, int]
    by_channel: dict[str, int]
    by_outcome: dict[str, int]
    by_month: list[MonthOut]


def _out(c: svc.Complaint, on: date) -> ComplaintOut:
    return ComplaintOut(
        id=c.id,
        borrower_id=c.borrower_id,
        case_id=c.case_id,
        received_on=c.received_on,
        channel=c.channel,
        category=c.category,
        pause_outreach=c.pause_outreach,
        owner=c.owner,
        due_on=c.due_on,
        status=c.status,
        overdue=c.overdue(on),
        answered_on=c.answered_on,
        outcome=c.outcome,
        closed_on=c.closed_on,
    )


@router.post(
    "/borrowers/{borrower_id}/complaints",
    response_model=ComplaintOut,
    status_code=201,
    tags=["borrowers"],
)
def post_complaint(
    borrower_id: Annotated[Id, Path()], body: ComplaintIn, ctx: Ctx, who: Writer
) -> ComplaintOut:
    """Register a complaint: due the borrower's rule pack's days later; with `pause_outreach`
    no outreach reaches the borrower until it is closed (`arrears complaint`)."""
    with ctx.begin() as conn:
        if not feed.borrower_exists(conn, borrower_id):
            raise ProblemError(404, "borrower-unknown", f"no borrower {borrower_id}")
        try:
            c = svc.receive_complaint(
                conn,
                ctx.app.keyring,
                channel=body.channel,
                category=body.category,
                on=body.received_on,
                by=f"api:{who.name}"[:64],
                at=ctx.now(),
                summary=body.summary,
                borrower_id=borrower_id,
                pause_outreach=body.pause_outreach,
            )
        except svc.ComplaintTextInvalid as exc:
            raise ProblemError(422, "complaint-invalid", str(exc)) from None
        except RulePackUnavailable as exc:
            raise ProblemError(503, "rule-pack-unavailable", str(exc)) from None
        return _out(c, ctx.today(conn))


@router.get("/complaints", response_model=list[ComplaintOut])
def get_complaints(
    ctx: Ctx,
    _: Reader,
    status: svc.ComplaintStatus | None = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[ComplaintOut]:
    """The register, the overdue first, then by due date (overdue as of the business date)."""
    with ctx.begin() as conn:
        on = ctx.today(conn)
        found = svc.list_complaints(
            conn, ctx.app.keyring, on=on, status=status, overdue_only=overdue, limit=limit
        )
    return [_out(c, on) for c in found]


@router.get("/complaints/report", response_model=ReportOut)
def get_complaint_report(
    ctx: Ctx,
    _: Reader,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
) -> ReportOut:
    """Counts by category, channel, outcome and status; the median days to answer; by month."""
    if start and end and start > end:
        raise ProblemError(422, "period-invalid", f"from {start} is after to {end}")
    with ctx.begin() as conn:
        r = svc.complaint_report(conn, on=ctx.today(conn), start=start, end=end)
    return ReportOut.model_validate(r.as_dict())


@router.get("/complaints/{complaint_id}", response_model=ComplaintOut)
def get_complaint(
    complaint_id: Annotated[int, Path(ge=1, le=2**31 - 1)], ctx: Ctx, _: Reader
) -> ComplaintOut:
    with ctx.begin() as conn:
        try:
            c = svc.get_complaint(conn, ctx.app.keyring, complaint_id)
        except svc.ComplaintNotFound as exc:
            raise ProblemError(404, "complaint-unknown", str(exc)) from None
        return _out(c, ctx.today(conn))
