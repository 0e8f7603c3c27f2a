"""Settlement offers on the web: a case's offers and the form to make one, and the offers that
wait for approval, approved by a role allowed the discount (the service decides who may)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from arrears.api.context import context_of
from arrears.domain.errors import DomainError
from arrears.domain.settlement_offers import OfferStatus
from arrears.services import settlements as svc
from arrears.services.users import Permission
from arrears.web import queries as wq
from arrears.web.i18n import Refusal, error_text
from arrears.web.render import render
from arrears.web.session import CheckedViewer, PageForbidden, PageNotFound, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)

_REFUSED = (
    DomainError,
    svc.SettlementCaseClosed,
    svc.SettlementOfferExists,
    svc.SettlementUserUnknown,
    Refusal,
)


def _may_see(viewer: Viewer) -> None:
    if not (viewer.can(Permission.WORK_CASES) or viewer.can(Permission.SEE_ALL_CASES)):
        raise PageForbidden("error.role_may_not")


def _page(
    request: Request,
    viewer: Viewer,
    case: int | None,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        today = ctx.today(conn)
        balance = None
        if case is not None:
            row = wq.case_for(conn, viewer, case)
            balance = svc.case_balance(conn, case) if row is not None else None
            offers = svc.list_offers(conn, case_id=case)
        else:  # those waiting on the cases the viewer may open
            offers = [
                o
                for o in svc.list_offers(conn, status=OfferStatus.PROPOSED)
                if _visible(conn, viewer, o.case_id)
            ]
    return render(
        request,
        "settlements.html",
        viewer.lang,
        status_code=status_code,
        viewer=viewer,
        today=today,
        case=case,
        balance=balance,
        offers=offers,
        can_offer=case is not None and viewer.can(Permission.WORK_CASES),
        error=error,
        form=form or {},
    )


def _visible(conn: Connection, viewer: Viewer, case_id: int) -> bool:
    try:
        wq.case_for(conn, viewer, case_id)
    except (PageForbidden, PageNotFound):
        return False
    return True


@router.get("/settlements", response_class=HTMLResponse)
def settlements(request: Request, viewer: ViewerDep, case: int | None = None) -> Response:
    _may_see(viewer)
    return _page(request, viewer, case)


def _pct(text: str) -> Decimal:
    try:
        return Decimal(text.strip().rstrip("%"))
    except InvalidOperation:
        raise Refusal("settlement.err.pay") from None


@router.post("/settlements/offer")
def offer(
    request: Request,
    viewer: CheckedViewer,
    case_id: Annotated[int, Form()],
    pay: Annotated[str, Form(max_length=12)] = "",
    due_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    form = {"pay": pay, "due_on": due_on}
    with ctx.begin() as conn:
        wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        try:
            svc.offer_settlement(
                conn,
                case_id=case_id,
                pay_pct=_pct(pay),
                due_on=_day(due_on),
                on=today,
                by=viewer.user.username,
                limits=svc.configured_limits(),
            )
        except _REFUSED as exc:
            conn.rollback()
            return _refused(request, viewer, case_id, exc, form)
    return RedirectResponse(f"/settlements?case={case_id}", status_code=303)


@router.post("/settlements/{offer_id}/approve")
def approve(
    request: Request,
    offer_id: int,
    viewer: CheckedViewer,
    back: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    _may_see(viewer)
    ctx = context_of(request)
    with ctx.begin() as conn:
        try:
            found = svc.get_offer(conn, offer_id)
        except svc.SettlementOfferNotFound:
            return _refused(request, viewer, None, Refusal("settlement.err.not_found"), {})
        wq.case_for(conn, viewer, found.case_id)
        try:
            svc.approve_settlement(
                conn,
                offer_id,
                by=viewer.user.username,
                on=ctx.today(conn),
                limits=svc.configured_limits(),
            )
        except _REFUSED as exc:
            conn.rollback()
            return _refused(request, viewer, found.case_id if back else None, exc, {})
    where = f"/settlements?case={found.case_id}" if back else "/settlements"
    return RedirectResponse(where, status_code=303)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Refusal("settlement.err.due") from None


def _refused(
    request: Request, viewer: Viewer, case: int | None, exc: Exception, form: dict[str, str]
) -> Response:
    return _page(
        request,
        viewer,
        case,
        error=error_text(viewer.lang, exc),
        form=form,
        status_code=422,
    )
