"""The agent's workbench: the queue, next case, the case file, calls, outcomes, promises, plans."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from arrears.api.context import context_of
from arrears.compliance.port import Verdict, check_dial, stored_verdict
from arrears.domain.errors import DomainError
from arrears.domain.money import Money, parse_amount
from arrears.domain.outcomes import HardshipKind, Outcome
from arrears.domain.plans import PlanLimits, PlanTerms
from arrears.services.users import Permission, Role, User
from arrears.web import audit
from arrears.web import queries as wq
from arrears.web.render import render
from arrears.web.scripts import script
from arrears.web.session import CheckedViewer, PageForbidden, PageNotFound, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)

AGENT_OUTCOMES = {
    "borrower": [
        Outcome.RIGHT_PARTY,
        Outcome.NO_ANSWER,
        Outcome.BUSY,
        Outcome.WRONG_NUMBER,
        Outcome.OUT_OF_SERVICE,
        Outcome.REFUSED,
        Outcome.PROMISE,
        Outcome.DISPUTE,
        Outcome.HARDSHIP,
    ],
    "contact": [
        Outcome.CONTACT_REACHED,
        Outcome.NO_ANSWER,
        Outcome.BUSY,
        Outcome.CONTACT_REFUSED,
        Outcome.WRONG_NUMBER,
        Outcome.MESSAGE_LEFT,
    ],
}


def plan_limits(user: User, currency: str) -> PlanLimits:
    if user.role is Role.TEAM_LEAD:
        return PlanLimits(max_instalments=24, max_waiver=Money.of(10**9, currency))
    return PlanLimits(
        max_instalments=user.plan_max_instalments,
        max_waiver=Money.from_minor(user.plan_max_waiver_minor, currency),
    )


@router.get("/agent", response_class=HTMLResponse)
def queue(request: Request, viewer: ViewerDep, empty: int = 0) -> Response:
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    with ctx.begin() as conn:
        today = ctx.today(conn)
        rows = wq.queue_rows(conn, viewer, today)
    return render(
        request, "agent.html", viewer.lang, viewer=viewer, rows=rows, today=today, empty=empty
    )


@router.post("/agent/next")
def take_next(request: Request, viewer: CheckedViewer) -> Response:
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    with ctx.begin() as conn:
        case_id = wq.next_case(conn, viewer, ctx.today(conn))
    if case_id is None:
        return RedirectResponse("/agent?empty=1", status_code=303)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


def _case_page(
    request: Request,
    viewer: Viewer,
    case_id: int,
    *,
    revealed: bool = False,
    done: str = "",
    status_code: int = 200,
    error: str = "",
) -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        view = wq.case_view(conn, ctx.app.keyring, case, today, ctx.now())
    borrower = view.borrower_party if revealed else wq.masked(view.borrower_party)
    contacts = view.contacts if revealed else [wq.masked(p) for p in view.contacts]
    return render(
        request,
        "case.html",
        viewer.lang,
        status_code=status_code,
        viewer=viewer,
        v=view,
        today=today,
        borrower=borrower,
        contacts=contacts,
        revealed=revealed,
        done=done,
        error=error,
        can_work=viewer.can(Permission.WORK_CASES),
        can_reveal=viewer.can(Permission.REVEAL_PII),
        hardship_kinds=list(HardshipKind),
        limits=plan_limits(viewer.user, view.currency),
        default_first_due=today.replace(day=min(today.day, 28)),
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: int, viewer: ViewerDep, done: str = "") -> Response:
    return _case_page(request, viewer, case_id, done=done)


@router.post("/cases/{case_id}/reveal", response_class=HTMLResponse)
def reveal(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Unmask personal data for this page view: needs the right and a reason; audited."""
    if not viewer.can(Permission.REVEAL_PII):
        raise PageForbidden("your role may not reveal personal data; ask a team lead")
    if len(reason.strip()) < 5:
        return _case_page(
            request, viewer, case_id, status_code=422, error="a reason (5+ characters) is needed"
        )
    ctx = context_of(request)
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        audit.append(
            conn,
            ctx.app.keyring,
            audit.REVEAL,
            viewer.user.username,
            case.borrower_id,
            {"case_id": case_id, "reason": reason.strip(), "fields": ["name", "phone"]},
            ctx.now(),
        )
    return _case_page(request, viewer, case_id, revealed=True)


def _refusal(verdict: Verdict) -> str:
    nxt = verdict.next_allowed_at
    return f"the rule pack does not allow this call now: {verdict.reason}" + (
        f"; next allowed {nxt:%Y-%m-%d %H:%M} UTC" if nxt else ""
    )


def _action_of(view: wq.CaseView, action_id: int) -> wq.ActionView:
    for act in view.actions:
        if act.row.id == action_id:
            return act
    raise PageNotFound(f"no action {action_id} on this case today")


@router.get("/cases/{case_id}/call/{action_id}", response_class=HTMLResponse)
def call_page(request: Request, case_id: int, action_id: int, viewer: ViewerDep) -> Response:
    """The call screen: the script for who is on the line and the outcome form. A contact call
    shows nothing of the debt."""
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        view = wq.case_view(conn, ctx.app.keyring, case, today, ctx.now())
    act = _action_of(view, action_id)
    with ctx.begin() as conn:  # the moment the call is placed: the rule pack decides, recorded
        verdict = check_dial(
            conn,
            case_id=case_id,
            target=act.row.target_type,
            contact_id=act.row.target_id if act.row.target_type == "contact" else None,
            at=ctx.now(),
            action_id=act.row.id,
            agent=viewer.user.username,
        )
    if not verdict.allowed:
        raise PageForbidden(_refusal(verdict))
    to_contact = act.row.target_type == "contact"
    contact = view.contact(act.row.target_id) if to_contact else None
    values: dict[str, Any] = {"name": wq.masked(view.borrower_party).name}
    if contact is not None:
        values["contact"] = wq.masked(contact).name
    else:
        from arrears.web.i18n import fmt_minor

        values.update(
            dpd=view.case.dpd, amount=fmt_minor(view.overdue_minor, view.currency, viewer.lang)
        )
    text = script(act.row.template, viewer.lang, **values)
    return render(
        request,
        "call.html",
        viewer.lang,
        viewer=viewer,
        v=view,
        act=act,
        to_contact=to_contact,
        contact=wq.masked(contact) if contact else None,
        script_text=text,
        outcomes=AGENT_OUTCOMES["contact" if to_contact else "borrower"],
        hardship_kinds=list(HardshipKind),
    )


@router.post("/cases/{case_id}/outcome")
def post_outcome(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    outcome: Annotated[str, Form(max_length=32)],
    action_id: Annotated[int | None, Form()] = None,
    target_type: Annotated[str, Form(max_length=16)] = "borrower",
    target_id: Annotated[str, Form(max_length=64)] = "",
    hardship: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record a call outcome (through an allowed action), or mark a contact refused / wrong."""
    from arrears.services.outcomes import record_outcome

    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    now = ctx.now()
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        if action_id is not None:
            row = wq.action_of_case(conn, case_id, action_id, today)
            if row is None:
                raise PageNotFound(f"no action {action_id} on this case today")
            verdict = stored_verdict(row, now)  # placed through the call screen
            if not verdict.allowed:
                raise PageForbidden(_refusal(verdict))
            target_type, target_id = row.target_type, row.target_id
            channel = row.channel if row.channel != "task" else "call"
        else:
            if outcome not in (Outcome.CONTACT_REFUSED, Outcome.WRONG_NUMBER):
                raise PageForbidden("record a call through one of today's allowed call tasks")
            channel = "call"
        if target_type == "borrower":
            target_id = case.borrower_id
        try:
            record_outcome(
                conn,
                case_id=case_id,
                target_type=target_type,
                target_id=target_id,
                channel=channel,
                outcome=outcome,
                at=now,
                business_date=today,
                agent=viewer.user.username,
                action_id=action_id,
                hardship=hardship or None,
                note=note.strip() or None,
            )
        except (DomainError, ValueError) as exc:
            conn.rollback()
            return _case_page(request, viewer, case_id, status_code=422, error=str(exc))
    return RedirectResponse(f"/cases/{case_id}?done=outcome", status_code=303)


@router.post("/cases/{case_id}/promise")
def post_promise(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    amount: Annotated[str, Form(max_length=32)],
    due_on: Annotated[date, Form()],
) -> Response:
    from arrears.services.promises import record_promise

    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        try:
            money = Money(parse_amount(amount, case.currency), case.currency)
            if money.amount <= 0:
                raise ValueError("the promised amount must be above zero")
            if due_on < today:
                raise ValueError("a promise is for today or a later day")
            record_promise(
                conn,
                case_id=case_id,
                amount=money,
                due_on=due_on,
                made_on=today,
                agent=viewer.user.username,
            )
        except (DomainError, ValueError) as exc:
            conn.rollback()
            return _case_page(request, viewer, case_id, status_code=422, error=str(exc))
    return RedirectResponse(f"/cases/{case_id}?done=promise", status_code=303)


def _terms(
    instalments: int,
    first_due_on: date,
    interval_days: int | None,
    waive_penalty: bool,
    waive_interest: bool,
) -> PlanTerms:
    return PlanTerms(
        instalments=instalments,
        first_due_on=first_due_on,
        interval_days=interval_days or None,
        waive_penalty=waive_penalty,
        waive_interest=waive_interest,
    )


@router.post("/cases/{case_id}/plan/preview", response_class=HTMLResponse)
def plan_preview(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    instalments: Annotated[int, Form(ge=1, le=60)] = 3,
    first_due_on: Annotated[date | None, Form()] = None,
    interval_days: Annotated[int | None, Form(ge=0, le=366)] = None,
    waive_penalty: Annotated[bool, Form()] = False,
    waive_interest: Annotated[bool, Form()] = False,
) -> Response:
    """The live calculator: the plan these terms make, and whether it needs a team lead."""
    from arrears.domain.plans import needs_approval
    from arrears.services.plans import preview_plan

    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        try:
            terms = _terms(
                instalments, first_due_on or today, interval_days, waive_penalty, waive_interest
            )
            plan = preview_plan(conn, case_id, terms, today)
            reasons = needs_approval(plan, plan_limits(viewer.user, case.currency))
            error = ""
        except (DomainError, ValueError) as exc:
            plan, reasons, error = None, [], str(exc)
    return render(
        request, "plan_preview.html", viewer.lang, plan=plan, reasons=reasons, error=error
    )


@router.post("/cases/{case_id}/plan")
def post_plan(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    instalments: Annotated[int, Form(ge=1, le=60)],
    first_due_on: Annotated[date, Form()],
    interval_days: Annotated[int | None, Form(ge=0, le=366)] = None,
    waive_penalty: Annotated[bool, Form()] = False,
    waive_interest: Annotated[bool, Form()] = False,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    from arrears.services.plans import propose_plan

    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        try:
            if first_due_on < today:
                raise ValueError("the first instalment is due today or later")
            terms = _terms(instalments, first_due_on, interval_days, waive_penalty, waive_interest)
            result = propose_plan(
                conn,
                case_id=case_id,
                terms=terms,
                proposed_on=today,
                by=viewer.user.username,
                limits=plan_limits(viewer.user, case.currency),
                reason=reason.strip() or None,
            )
        except (DomainError, ValueError) as exc:
            conn.rollback()
            return _case_page(request, viewer, case_id, status_code=422, error=str(exc))
    done = "plan_active" if str(result.status) == "active" else "plan_proposed"
    return RedirectResponse(f"/cases/{case_id}?done={done}", status_code=303)
