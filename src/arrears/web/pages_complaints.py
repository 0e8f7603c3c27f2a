"""The complaints register on the web, for team leads and compliance officers: the list (overdue
first) with the report's figures and the form to receive a complaint; one complaint with what
the borrower said, and the forms to assign, answer and close it. A specialist's outreach by
hand from the case page (`/cases/{id}/outreach`), judged by the gate, its verdict in words."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from arrears.api.context import context_of
from arrears.compliance.loading import RulePackUnavailable
from arrears.privacy.masking import Role
from arrears.services import complaints as svc
from arrears.services import outreach
from arrears.web import queries as wq
from arrears.web.i18n import (
    Refusal,
    code,
    display_zone,
    error_text,
    fmt_date,
    pick,
    rule_reason,
    word,
)
from arrears.web.pages_agent import _case_page
from arrears.web.render import render
from arrears.web.session import CheckedViewer, PageForbidden, PageNotFound, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)

ROLES = frozenset({Role.TEAM_LEAD, Role.COMPLIANCE})
_REFUSED = (
    svc.ComplaintValueUnknown,
    svc.ComplaintTargetUnknown,
    svc.ComplaintOwnerUnknown,
    svc.ComplaintStateWrong,
    svc.ComplaintTextInvalid,
    RulePackUnavailable,
    Refusal,
)


def _may(viewer: Viewer) -> None:
    if viewer.user.role not in ROLES:
        raise PageForbidden("error.role_may_not")


def _list_page(
    request: Request,
    viewer: Viewer,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        today = ctx.today(conn)
        listed = svc.list_complaints(conn, ctx.app.keyring, on=today, limit=200)
        report = svc.complaint_report(conn, on=today)
    return render(
        request,
        "complaints.html",
        viewer.lang,
        status_code=status_code,
        viewer=viewer,
        today=today,
        complaints=listed,
        report=report,
        channels=list(svc.ComplaintChannel),
        categories=list(svc.ComplaintCategory),
        error=error,
        form=form or {},
    )


@router.get("/complaints", response_class=HTMLResponse)
def complaints_page(request: Request, viewer: ViewerDep) -> Response:
    _may(viewer)
    return _list_page(request, viewer)


def _day(text: str, today: date) -> date:
    if not text.strip():
        return today
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Refusal("complaints.err.date") from None


@router.post("/complaints")
def receive(
    request: Request,
    viewer: CheckedViewer,
    borrower_id: Annotated[str, Form(max_length=64)] = "",
    case_id: Annotated[str, Form(max_length=12)] = "",
    channel: Annotated[str, Form(max_length=16)] = "",
    category: Annotated[str, Form(max_length=32)] = "",
    summary: Annotated[str, Form(max_length=svc.SUMMARY_MAX)] = "",
    received_on: Annotated[str, Form(max_length=10)] = "",
    pause_outreach: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    _may(viewer)
    ctx = context_of(request)
    form = {
        "borrower_id": borrower_id,
        "case_id": case_id,
        "channel": channel,
        "category": category,
        "summary": summary,
        "received_on": received_on,
        "pause_outreach": pause_outreach,
    }
    with ctx.begin() as conn:
        try:
            case = int(case_id) if case_id.strip() else None
        except ValueError:
            case = -1
        try:
            c = svc.receive_complaint(
                conn,
                ctx.app.keyring,
                channel=channel,
                category=category,
                on=_day(received_on, ctx.today(conn)),
                by=viewer.user.username,
                at=ctx.now(),
                summary=summary,
                borrower_id=borrower_id.strip() or None,
                case_id=case,
                pause_outreach=pause_outreach == "on",
            )
        except _REFUSED as exc:
            conn.rollback()
            return _list_page(
                request, viewer, error=error_text(viewer.lang, exc), form=form, status_code=422
            )
    return RedirectResponse(f"/complaints/{c.id}?done=complaint_received", status_code=303)


def _one_page(
    request: Request,
    viewer: Viewer,
    complaint_id: int,
    *,
    done: str = "",
    error: str = "",
    status_code: int = 200,
) -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        today = ctx.today(conn)
        try:
            c = svc.get_complaint(conn, ctx.app.keyring, complaint_id)
        except svc.ComplaintNotFound:
            raise PageNotFound("complaints.err.not_found") from None
        owners = svc.complaint_owners(conn)
    return render(
        request,
        "complaint.html",
        viewer.lang,
        status_code=status_code,
        viewer=viewer,
        today=today,
        c=c,
        owners=owners,
        outcomes=list(svc.ComplaintOutcome),
        done=done,
        error=error,
    )


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
def complaint_page(
    request: Request, complaint_id: int, viewer: ViewerDep, done: str = ""
) -> Response:
    _may(viewer)
    return _one_page(request, viewer, complaint_id, done=done)


def _step(request: Request, viewer: Viewer, complaint_id: int, done: str, act: Any) -> Response:
    _may(viewer)
    ctx = context_of(request)
    with ctx.begin() as conn:
        try:
            act(conn, ctx.app.keyring, ctx.today(conn), ctx.now())
        except svc.ComplaintNotFound:
            raise PageNotFound("complaints.err.not_found") from None
        except _REFUSED as exc:
            conn.rollback()
            return _one_page(
                request,
                viewer,
                complaint_id,
                error=error_text(viewer.lang, exc),
                status_code=422,
            )
    return RedirectResponse(f"/complaints/{complaint_id}?done={done}", status_code=303)


@router.post("/complaints/{complaint_id}/assign")
def assign(
    request: Request,
    complaint_id: int,
    viewer: CheckedViewer,
    owner: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    def act(conn: Any, ring: Any, today: date, now: Any) -> None:
        svc.assign_complaint(conn, ring, complaint_id, owner=owner, by=viewer.user.username, at=now)

    return _step(request, viewer, complaint_id, "complaint_assigned", act)


@router.post("/complaints/{complaint_id}/answer")
def answer(
    request: Request,
    complaint_id: int,
    viewer: CheckedViewer,
    response: Annotated[str, Form(max_length=svc.SUMMARY_MAX)] = "",
    outcome: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    def act(conn: Any, ring: Any, today: date, now: Any) -> None:
        svc.answer_complaint(
            conn,
            ring,
            complaint_id,
            response=response,
            outcome=outcome,
            on=today,
            by=viewer.user.username,
            at=now,
        )

    return _step(request, viewer, complaint_id, "complaint_answered", act)


@router.post("/complaints/{complaint_id}/close")
def close(request: Request, complaint_id: int, viewer: CheckedViewer) -> Response:
    def act(conn: Any, ring: Any, today: date, now: Any) -> None:
        svc.close_complaint(conn, ring, complaint_id, on=today, by=viewer.user.username, at=now)

    return _step(request, viewer, complaint_id, "complaint_closed", act)


# --- the specialist's outreach by hand, from the case page ------------------------------------


def verdict_text(verdict: Any, lang: str) -> str:
    """The gate's verdict on an outreach asked for by hand, in the user's language."""
    if verdict.allowed:
        return word(lang, "outreach.allowed")
    why = rule_reason(lang, verdict.rule_id, verdict.params)
    head = word(lang, "outreach.deferred" if verdict.kind == "defer" else "outreach.blocked")
    colon, semi, (left, right) = ("：", "；", "（）") if pick(lang) == "zh" else (": ", "; ", "()")
    text = f"{head}{colon}{why}"
    if verdict.next_allowed_at:
        nxt = fmt_date(verdict.next_allowed_at, lang)
        zone = code(lang, "zone", display_zone().key)
        text += f"{semi}{word(lang, 'next_allowed')} {nxt} {left}{zone}{right}"
    return text


@router.post("/cases/{case_id}/outreach")
def request_outreach_by_hand(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    channel: Annotated[str, Form(max_length=16)] = "",
    target: Annotated[str, Form(max_length=48)] = "borrower",
) -> Response:
    """One outreach asked for by hand; the page shows the gate's verdict and its reason."""
    ctx = context_of(request)
    who, _, contact = target.partition(":")
    with ctx.begin() as conn:
        wq.case_for(conn, viewer, case_id)  # the viewer may open the case
        try:
            done = outreach.request_by_hand(
                conn,
                case_id=case_id,
                channel=channel,
                by=viewer.user.username,
                at=ctx.now(),
                target=who,
                contact_id=contact or None,
                business_date=ctx.today(conn),
            )
        except (outreach.OutreachRefused, RulePackUnavailable) as exc:
            conn.rollback()
            return _case_page(
                request,
                viewer,
                case_id,
                status_code=422,
                error=error_text(viewer.lang, exc),
            )
    if done.verdict.allowed:
        return _case_page(request, viewer, case_id, done="outreach_allowed")
    return _case_page(request, viewer, case_id, refusal=verdict_text(done.verdict, viewer.lang))
