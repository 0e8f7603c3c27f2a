"""The legal team's page (`/legal`): the cases in legal with their status, the demand letter
(made when the rule pack allows a letter; downloaded as PDF), the next moves, a referral by hand
(team lead, manager), the rules the daily run refers with, and one case's history. The service
decides who may do what (services/legal.py); the page only shows it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from arrears.api.context import context_of
from arrears.compliance.port import Verdict
from arrears.domain.errors import DomainError
from arrears.domain.legal import ORDER, LegalStatus
from arrears.services import legal as svc
from arrears.web.i18n import Refusal, error_text
from arrears.web.render import render
from arrears.web.session import CheckedViewer, PageForbidden, PageNotFound, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)

_REFUSED = (
    DomainError,
    svc.LegalCaseNotFound,
    svc.LegalReferralRefused,
    svc.LegalLetterRequired,
    Refusal,
)


def _access(request: Request, viewer: Viewer) -> svc.LegalAccess:
    with context_of(request).begin() as conn:
        granted = svc.access_of(conn, viewer.user.username)
    if not granted.view:
        raise PageForbidden("error.role_may_not")
    return granted


def _page(
    request: Request,
    viewer: Viewer,
    granted: svc.LegalAccess,
    *,
    case: int | None = None,
    error: str = "",
    verdict: Verdict | None = None,
    status_code: int = 200,
) -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        today = ctx.today(conn)
        cases = svc.list_cases(conn)
        counts = svc.counts_by_status(conn)
        rules = svc.list_rules(conn)
        detail = None
        if case is not None:
            try:
                detail = svc.get_case(conn, case)
            except svc.LegalCaseNotFound as exc:
                error = error or error_text(viewer.lang, exc)
    return render(
        request,
        "legal.html",
        viewer.lang,
        status_code=status_code,
        viewer=viewer,
        today=today,
        cases=cases,
        counts=[(s, counts.get(s, 0)) for s in ORDER],
        rules=rules,
        detail=detail,
        may_refer=granted.refer,
        error=error,
        verdict=verdict,
        letter_status=LegalStatus.DEMAND_LETTER_SENT,
    )


@router.get("/legal", response_class=HTMLResponse)
def legal_page(request: Request, viewer: ViewerDep, case: int | None = None) -> Response:
    return _page(request, viewer, _access(request, viewer), case=case)


@router.post("/legal/refer")
def refer(
    request: Request,
    viewer: CheckedViewer,
    case_id: Annotated[str, Form(max_length=12)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    granted = _access(request, viewer)
    ctx = context_of(request)
    try:
        number = int(case_id.strip().lstrip("#"))
    except ValueError:
        return _refused(request, viewer, granted, None, Refusal("legal.err.case_number"))
    with ctx.begin() as conn:
        try:
            svc.refer(
                conn,
                number,
                ctx.today(conn),
                by=viewer.user.username,
                at=ctx.now(),
                ring=ctx.app.keyring,
                note=note.strip() or None,
            )
        except svc.LegalUserRefused:
            raise PageForbidden("error.role_may_not") from None
        except _REFUSED as exc:
            conn.rollback()
            return _refused(request, viewer, granted, None, exc)
    return RedirectResponse(f"/legal?case={number}", status_code=303)


@router.post("/legal/{case_id}/advance")
def advance(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    to: Annotated[str, Form(max_length=24)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    granted = _access(request, viewer)
    ctx = context_of(request)
    with ctx.begin() as conn:
        try:
            svc.advance(
                conn,
                case_id,
                to,
                ctx.today(conn),
                by=viewer.user.username,
                at=ctx.now(),
                ring=ctx.app.keyring,
                note=note.strip() or None,
            )
        except _REFUSED as exc:
            conn.rollback()
            return _refused(request, viewer, granted, case_id, exc)
    return RedirectResponse(f"/legal?case={case_id}", status_code=303)


@router.post("/legal/{case_id}/letter")
def letter(request: Request, case_id: int, viewer: CheckedViewer) -> Response:
    granted = _access(request, viewer)
    ctx = context_of(request)
    with ctx.begin() as conn:  # the port's verdict is kept, whatever it is
        try:
            made = svc.send_demand_letter(
                conn,
                case_id,
                ctx.today(conn),
                by=viewer.user.username,
                at=ctx.now(),
                ring=ctx.app.keyring,
                comms=svc.lender_comms(),
            )
        except _REFUSED as exc:
            conn.rollback()
            return _refused(request, viewer, granted, case_id, exc)
    if made.document is None:
        return _page(request, viewer, granted, case=case_id, verdict=made.verdict, status_code=409)
    return RedirectResponse(f"/legal?case={case_id}", status_code=303)


@router.get("/legal/documents/{document_id}.pdf")
def document(request: Request, document_id: int, viewer: ViewerDep) -> Response:
    _access(request, viewer)
    ctx = context_of(request)
    with ctx.begin() as conn:
        try:
            found, pdf = svc.document_pdf(
                conn, document_id, by=viewer.user.username, at=ctx.now(), ring=ctx.app.keyring
            )
        except (svc.LegalDocumentNotFound, svc.LegalDocumentUnavailable) as exc:
            raise PageNotFound(str(exc)) from None
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Cache-Control": "no-store",
        },
    )


def _refused(
    request: Request,
    viewer: Viewer,
    granted: svc.LegalAccess,
    case: int | None,
    exc: Exception,
) -> Response:
    return _page(
        request,
        viewer,
        granted,
        case=case,
        error=error_text(viewer.lang, exc),
        status_code=422,
    )
