"""The team lead's floor: each agent's day live, who is on a call now, plans awaiting approval,
recordings to review, and every case of the team (paged, sorted, filtered, bulk-assigned).

A manager sees the same page over every team, read only. The SQL is in `services.floor`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from arrears.api.context import context_of
from arrears.domain.errors import DomainError
from arrears.services import floor as fl
from arrears.services.calls import PLAYBACK_ROLES
from arrears.services.users import Permission
from arrears.web.render import render
from arrears.web.session import CheckedViewer, PageForbidden, PageNotFound, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)

STATUSES = ("open", "cured", "paid_off", "settled", "charged_off", "sold")
_FILTERS = ("status", "bucket", "agent", "queue", "dpd_min", "dpd_max", "sort", "dir", "page")


def scope_of(viewer: Viewer) -> fl.FloorScope:
    """The floor a viewer oversees: a team lead's team; a manager or compliance, everyone."""
    if viewer.can(Permission.SEE_ALL_CASES):
        return fl.FloorScope.everyone()
    return fl.FloorScope(viewer.user.team_id, tuple(viewer.queues))


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _filter(params: dict[str, str]) -> fl.CaseFilter:
    try:
        sort = fl.CaseSort(params.get("sort") or fl.CaseSort.OVERDUE)
    except ValueError:
        sort = fl.CaseSort.OVERDUE
    status = params.get("status", "open")
    return fl.CaseFilter(
        status=status if status in STATUSES else "",
        bucket=params.get("bucket", "")[:8],
        agent=params.get("agent", "")[:64],
        queue=params.get("queue", "")[:32],
        dpd_min=_int(params.get("dpd_min", "")),
        dpd_max=_int(params.get("dpd_max", "")),
        sort=sort,
        descending=params.get("dir", "desc") != "asc",
        page=max(1, _int(params.get("page", "")) or 1),
    )


@router.get("/lead", response_class=HTMLResponse)
def floor(request: Request, viewer: ViewerDep, done: str = "", error: str = "") -> Response:
    viewer.require(Permission.VIEW_FLOOR)
    ctx = context_of(request)
    scope = scope_of(viewer)
    params = {k: v for k, v in request.query_params.items() if k in _FILTERS}
    chosen = _filter(params)
    now = ctx.now()
    with ctx.begin() as conn:
        today = ctx.today(conn)
        agents = fl.agent_days(conn, scope, today, now)
        live = fl.on_call_now(conn, scope)
        pending = fl.pending_plans(conn, scope)
        recordings = fl.recordings_to_review(conn, scope, today)
        page = fl.case_page(conn, scope, chosen)
        totals = fl.team_totals(conn, scope, today)
        buckets = fl.buckets_of(conn, scope)
        queues = fl.queues_of(conn, scope)
    promised: dict[str, int] = {}
    for a in agents:
        for currency, minor in a.promised.items():
            promised[currency] = promised.get(currency, 0) + minor

    def link(**changes: object) -> str:
        merged = {**params, **{k: str(v) for k, v in changes.items()}}
        return "/lead?" + urlencode({k: v for k, v in merged.items() if v not in ("", None)})

    def sort_link(key: str) -> str:
        same = chosen.sort.value == key
        return link(sort=key, dir="asc" if same and chosen.descending else "desc", page=1)

    return render(
        request,
        "lead.html",
        viewer.lang,
        viewer=viewer,
        today=today,
        now=now,
        agents=agents,
        live=live,
        pending=pending,
        recordings=recordings,
        page=page,
        chosen=chosen,
        params=params,
        link=link,
        sort_link=sort_link,
        totals=totals,
        promised=promised,
        buckets=buckets,
        queues=queues,
        statuses=STATUSES,
        here=link(),
        can_approve=viewer.can(Permission.APPROVE_PLANS),
        can_assign=viewer.can(Permission.ASSIGN),
        can_play=viewer.user.role in PLAYBACK_ROLES,
        done=done,
        error=error,
    )


def _back(to: str, fallback: str = "/lead") -> str:
    """A same-site path to return to (the floor with its filters, or a case page)."""
    if to.startswith(("/lead", "/cases/")) and "//" not in to and "\\" not in to:
        return to
    return fallback


def _with(to: str, **extra: str) -> str:
    return to + ("&" if "?" in to else "?") + urlencode(extra)


@router.post("/lead/assign")
async def bulk_assign(request: Request, viewer: CheckedViewer) -> Response:
    """Give the ticked cases to an agent of the team (none chosen: back to the queue), and
    optionally move them to another of the team's queues."""
    viewer.require(Permission.ASSIGN)
    form = await request.form()
    ids = [int(v) for v in form.getlist("case_id") if isinstance(v, str) and v.isdigit()]
    assignee = str(form.get("assignee") or "")[:64]
    queue = str(form.get("queue") or "")[:32]
    back = _back(str(form.get("back") or "/lead"))
    ctx = context_of(request)
    try:
        with ctx.begin() as conn:
            n = fl.assign_cases(conn, scope_of(viewer), ids, assignee or None, queue or None)
    except fl.FloorError as exc:
        raise PageForbidden(str(exc)) from None
    return RedirectResponse(_with(back, done="assigned", n=str(n)), status_code=303)


@router.post("/lead/cases/{case_id}/assign")
def assign(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    assignee: Annotated[str, Form(max_length=64)] = "",
    queue: Annotated[str, Form(max_length=32)] = "",
    back: Annotated[str, Form(max_length=500)] = "/lead",
) -> Response:
    """Assign one case to an agent of the team (empty: back to the queue), or move its queue."""
    viewer.require(Permission.ASSIGN)
    ctx = context_of(request)
    try:
        with ctx.begin() as conn:
            fl.assign_cases(conn, scope_of(viewer), [case_id], assignee or None, queue or None)
    except fl.QueueUnknown as exc:
        raise PageNotFound(str(exc)) from None
    except fl.FloorError as exc:
        raise PageForbidden(str(exc)) from None
    return RedirectResponse(_with(_back(back), done="assigned"), status_code=303)


def _decide(
    request: Request, viewer: Viewer, plan_id: int, *, approve: bool, reason: str, back: str
) -> Response:
    viewer.require(Permission.APPROVE_PLANS)
    ctx = context_of(request)
    to_case = back == "case"
    try:
        with ctx.begin() as conn:
            case_id = fl.decide_plan(
                conn,
                scope_of(viewer),
                plan_id,
                approve=approve,
                by=viewer.user.username,
                on=ctx.today(conn),
                at=ctx.now(),
                note=reason,
            )
    except fl.PlanNotFound as exc:
        raise PageNotFound(str(exc)) from None
    except fl.RejectionReasonMissing as exc:
        if to_case:
            where = f"/cases/{_case_of(request, plan_id)}"
            return RedirectResponse(_with(where, error="reject_reason"), status_code=303)
        raise PageForbidden(str(exc)) from None
    except DomainError as exc:
        raise PageForbidden(str(exc)) from None
    done = "approved" if approve else "rejected"
    target = f"/cases/{case_id}" if to_case else _back(back)
    return RedirectResponse(_with(target, done=done), status_code=303)


def _case_of(request: Request, plan_id: int) -> int:
    ctx = context_of(request)
    with ctx.begin() as conn:
        return fl.case_of_plan(conn, plan_id)


@router.post("/lead/plans/{plan_id}/approve")
def approve(
    request: Request,
    plan_id: int,
    viewer: CheckedViewer,
    reason: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(max_length=500)] = "/lead",
) -> Response:
    return _decide(request, viewer, plan_id, approve=True, reason=reason, back=back)


@router.post("/lead/plans/{plan_id}/reject")
def reject(
    request: Request,
    plan_id: int,
    viewer: CheckedViewer,
    reason: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(max_length=500)] = "/lead",
) -> Response:
    return _decide(request, viewer, plan_id, approve=False, reason=reason, back=back)


@router.get("/lead/recordings/{call_id}")
def recording(request: Request, call_id: int, viewer: ViewerDep) -> Response:
    """A call's recording, for the `<audio>` player of a team lead (their team's calls) or
    compliance; every playback is audited. Other roles get 403."""
    from arrears.channels.telephony.recordings import RecordingMissing, RecordingTampered
    from arrears.services.calls import (
        CallNotFound,
        RecordingForbidden,
        RecordingUnavailable,
        open_recording,
    )

    ctx = context_of(request)
    try:
        if viewer.user.role in PLAYBACK_ROLES:
            with ctx.begin() as conn:
                fl.call_in_scope(conn, scope_of(viewer), call_id)
        played = open_recording(
            ctx.engine,
            ctx.app.keyring,
            ctx.app.recordings,
            call_id=call_id,
            user=viewer.user,
            at=ctx.now(),
        )
    except (CallNotFound, RecordingUnavailable, RecordingMissing) as exc:
        raise PageNotFound(str(exc)) from None
    except (RecordingForbidden, fl.FloorError) as exc:
        raise PageForbidden(str(exc)) from None
    except RecordingTampered:
        raise PageForbidden(
            f"the recording of call {call_id} does not match its SHA-256; tell compliance"
        ) from None
    return Response(
        played.data,
        media_type=played.media_type,
        headers={"Cache-Control": "no-store", "Content-Disposition": "inline"},
    )
