"""The agent's workbench: the queue, next case, the case file, calls, outcomes, promises, plans."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from arrears.api.context import context_of
from arrears.compliance.loading import RulePackUnavailable
from arrears.compliance.port import Verdict, check_dial, stored_verdict
from arrears.compliance.scripts import CallScriptDiscloses, call_script
from arrears.domain.errors import DomainError
from arrears.domain.money import Money
from arrears.domain.outcomes import HardshipKind, Outcome
from arrears.domain.plans import PlanLimits
from arrears.privacy.masking import REVEAL_REASON_MIN
from arrears.services import case_scores, wrapup
from arrears.services.users import Permission, Role, User
from arrears.services.workbench import CALLBACK_STEP
from arrears.web import audit
from arrears.web import queries as wq
from arrears.web.i18n import (
    Refusal,
    code,
    display_zone,
    error_text,
    fmt_date,
    fmt_minor,
    fmt_money,
    rule_reason,
    word,
)
from arrears.web.render import render
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
        decisions = wq.plan_decisions(conn, viewer.user.username, today - timedelta(days=7))
    return render(
        request,
        "agent.html",
        viewer.lang,
        viewer=viewer,
        rows=rows,
        today=today,
        empty=empty,
        decisions=decisions,
        power=power_mode(request),
        reason_text=lambda r: _reason_text(r, viewer.lang),
    )


@router.post("/agent/next")
def take_next(
    request: Request,
    viewer: CheckedViewer,
    from_case: Annotated[int | None, Form()] = None,
) -> Response:
    """Claim the next case with work now; never the one the agent is leaving (`from_case`)."""
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    with ctx.begin() as conn:
        case_id = wq.next_case(conn, viewer, ctx.today(conn), ctx.now(), skip=from_case)
    if case_id is None:
        return RedirectResponse("/agent?empty=1", status_code=303)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


POWER_COOKIE = "arrears_power"


def power_mode(request: Request) -> bool:
    """Power dialling: when the agent wraps up a case, the next case is taken and dialled."""
    return request.cookies.get(POWER_COOKIE) == "1"


def _current_task(view: wq.CaseView, wrap: int | None) -> Any:
    """The call the wrap-up panel is for: the one asked for, else the first call of today's work
    the rule pack allows."""
    calls = [
        a
        for a in view.actions
        if a.row.channel == "call" and a.row.status in ("planned", "deferred")
    ]
    if wrap is not None:
        for a in view.actions:
            if a.row.id == wrap and a.row.channel == "call":
                return a
    return next((a for a in calls if a.verdict.allowed), None)


def _reason_text(reason: wq.Reason, lang: str) -> str:
    """Why the case is worked now, in the agent's words."""
    shown: dict[str, Any] = {}
    for key, value in reason.params.items():
        if key == "amount":
            shown[key] = fmt_minor(int(value[0]), str(value[1]), lang)
        elif key == "at":
            shown[key] = fmt_date(_in_zone(value), lang)
        elif key == "day":
            shown[key] = fmt_date(value, lang)
        elif key == "step":
            shown[key] = code(lang, "step", value)
        elif key == "kind":
            shown[key] = code(lang, "hardship", value)
        else:
            shown[key] = value
    try:
        return word(lang, f"agent.why.{reason.why.value}").format(**shown)
    except (KeyError, IndexError, ValueError):
        return word(lang, f"agent.why.{reason.why.value}")


def _in_zone(moment: Any) -> Any:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(display_zone())
    return moment


def _timeline(view: wq.CaseView, notes: list[Any]) -> list[dict[str, Any]]:
    """Calls (with their talk time and whether a recording is kept), notes, plans, promises and
    call-backs, newest first; a record of a day without a time stands at the top of its day."""
    entries: list[dict[str, Any]] = []
    for i in view.interactions:
        call = view.calls.get(i.id)
        entries.append(
            {
                "kind": "interaction",
                "at": _in_zone(i.occurred_at),
                "row": i,
                "call": _call_summary(call) if call is not None else None,
            }
        )
    for n in notes:
        entries.append({"kind": "note", "at": _in_zone(n.written_at), "row": n})
    for p, _ in view.plans:
        entries.append({"kind": "plan", "at": p.proposed_on, "row": p})
    for pr in view.promises:
        entries.append({"kind": "promise", "at": pr.made_on, "row": pr})
    for a in view.actions:
        if a.row.step == CALLBACK_STEP and a.row.scheduled_at is not None:
            entries.append(
                {"kind": "callback", "at": a.row.business_date, "row": _CallbackRow(a.row)}
            )

    def key(e: dict[str, Any]) -> tuple[date, int, str]:
        at = e["at"]
        if isinstance(at, datetime):
            return (at.date(), 0, at.strftime("%H:%M:%S.%f"))
        return (at, 1, "")

    return sorted(entries, key=key, reverse=True)


class _CallbackRow:
    def __init__(self, row: Any) -> None:
        self.scheduled_at = _in_zone(row.scheduled_at)
        self.status = row.status


def _call_summary(call: Any) -> dict[str, Any]:
    talk = getattr(call, "talk_ms", None)
    seconds = int(talk) // 1000 if talk is not None else int(getattr(call, "talk_seconds", 0) or 0)
    recorded = getattr(call, "has_recording", None)
    if recorded is None:
        recorded = bool(getattr(call, "recording_path", None))
    return {"talk_seconds": seconds, "recorded": bool(recorded)}


def _case_page(
    request: Request,
    viewer: Viewer,
    case_id: int,
    *,
    revealed: bool = False,
    done: str = "",
    status_code: int = 200,
    error: str = "",
    form: dict[str, Any] | None = None,
    wrap: int | None = None,
    call: str = "",
    refusal: str = "",
) -> Response:
    """The case page: who to call and why now, the call and its inline wrap-up, promise, plan,
    call-back and note forms, and the timeline. `form` keeps what the agent typed in a form that
    was refused; `call` is the call just placed (its known outcome fills the wrap-up)."""
    ctx = context_of(request)
    now = ctx.now()
    placed = _call_state(request, call) if call else None
    if placed is not None and (
        placed["case_id"] != case_id or placed["agent"] != viewer.user.username
    ):
        placed = None
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        view = wq.case_view(conn, ctx.app.keyring, case, today, now)
        reasons = wq.why_now(
            conn, [case_id], today, viewer.user.username, cases={case_id: case}
        ).get(case_id, [])
        notes = wrapup.notes_of(conn, case_id)
        scores = case_scores.scores_of(conn, case_id, today)
    me = viewer.user.username
    decisions = [  # the team lead's decisions on this agent's plans of the case
        p
        for p, _ in view.plans
        if p.proposed_by == me
        and (getattr(p, "decided_by", None) or p.approved_by) not in (None, me)
        and p.proposed_on >= today - timedelta(days=7)
    ]
    owed = Money.from_minor(view.overdue_minor, view.currency)  # the arrears of the items due
    borrower = view.borrower_party if revealed else wq.masked(view.borrower_party)
    contacts = view.contacts if revealed else [wq.masked(p) for p in view.contacts]
    limits = plan_limits(viewer.user, view.currency)
    defaults = wrapup.plan_defaults(today, limits)
    if wrap is None and placed is not None and placed["outcome"] in ("", "answered"):
        wrap = placed["action_id"]  # the call on the line, or answered: its wrap-up
    task = _current_task(view, wrap)
    to_contact = task is not None and task.row.target_type == "contact"
    on_line = view.contact(task.row.target_id) if task is not None and to_contact else None
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
        refusal=refusal,
        can_work=viewer.can(Permission.WORK_CASES),
        can_reveal=viewer.can(Permission.REVEAL_PII),
        hardship_kinds=list(HardshipKind),
        limits=limits,
        plan_form=(form or {}).get("plan") or defaults,
        promise_form=(form or {}).get("promise") or {},
        callback_form=(form or {}).get("callback") or {},
        note_form=(form or {}).get("note") or "",
        default_first_due=defaults.first_due_on,
        owed=owed,
        reasons=reasons,
        notes=notes,
        task=task,
        to_contact=to_contact,
        on_line=wq.masked(on_line) if on_line else None,
        script_text=_script_for(request, task, viewer.lang) if task else "",
        outcomes=AGENT_OUTCOMES["contact" if to_contact else "borrower"],
        placed=placed,
        timeline=_timeline(view, notes),
        decisions=decisions,
        reason_text=lambda r: _reason_text(r, viewer.lang),
        power=power_mode(request),
        borrower_zone=view.borrower.timezone or "Asia/Shanghai",
        scores=scores,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request,
    case_id: int,
    viewer: ViewerDep,
    done: str = "",
    wrap: int | None = None,
    call: str = "",
) -> Response:
    return _case_page(request, viewer, case_id, done=done, wrap=wrap, call=call)


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
    if len(reason.strip()) < REVEAL_REASON_MIN:
        return _case_page(
            request,
            viewer,
            case_id,
            status_code=422,
            error=error_text(viewer.lang, Refusal("error.reveal_reason")),
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


def _refusal(verdict: Verdict, lang: str) -> str:
    """Why the rule pack refuses the call, in the user's language; the next allowed moment in
    the lender's zone."""
    why = rule_reason(lang, verdict.rule_id, getattr(verdict, "params", None))
    text = f"{word(lang, 'error.call_not_allowed')}: {why}"
    nxt = verdict.next_allowed_at
    if nxt:
        text += f"; {word(lang, 'next_allowed')} {fmt_date(nxt, lang)} ({display_zone().key})"
    return text


def _script_for(request: Request, task: wq.ActionView, lang: str) -> str:
    """What the agent reads to whoever is on the line: the call template the content check
    passed (`arrears.compliance.scripts`, the one source); the borrower and the contact by
    name, the lender's name and call-back number; a contact's script says nothing of the debt."""
    ctx = context_of(request)
    contact = task.row.target_id if task.row.target_type == "contact" else None
    try:
        with ctx.begin() as conn:
            return call_script(
                conn,
                ctx.app.keyring,
                ctx.app.settings.lender,
                case_id=task.row.case_id,
                target=task.row.target_type,
                contact_id=contact,
                lang=lang,
                template=task.row.template,
            )
    except (CallScriptDiscloses, RulePackUnavailable) as exc:  # no script the check did not pass
        return str(exc)


def _action_of(view: wq.CaseView, action_id: int) -> Any:
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
        raise PageForbidden(_refusal(verdict, viewer.lang))
    to_contact = act.row.target_type == "contact"
    contact = view.contact(act.row.target_id) if to_contact else None
    text = _script_for(request, act, viewer.lang)
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
    outcome: Annotated[str, Form(max_length=32)] = "",
    action_id: Annotated[int | None, Form()] = None,
    call_id: Annotated[str, Form(max_length=64)] = "",
    target_type: Annotated[str, Form(max_length=16)] = "borrower",
    target_id: Annotated[str, Form(max_length=64)] = "",
    hardship: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    promise_amount: Annotated[str, Form(max_length=32)] = "",
    promise_due_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Record a call outcome (through an allowed action, or completing a call the dialler
    placed), or mark a contact refused / wrong. A hardship kind alone is hardship declared by
    whoever was on the line (the second click of the inline wrap-up); a promise with its amount
    and date records the promise with the call's outcome, under the same rules as the form."""
    from arrears.services.outcomes import record_outcome

    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    now = ctx.now()
    placed = _call_state(request, call_id) if call_id else None
    if placed is not None and (
        placed["case_id"] != case_id
        or (action_id is not None and placed["action_id"] not in (None, action_id))
    ):
        placed = None  # another case's call, or another task's: not this wrap-up's
    if placed is not None and placed["state"] != "ended":  # the network's outcome comes first
        return _case_page(
            request,
            viewer,
            case_id,
            status_code=409,
            error=word(viewer.lang, "agent.err.call_running"),
            call=call_id,
        )
    if placed is not None:
        action_id = placed["action_id"] or action_id
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        if action_id is not None:
            row = wq.action_of_case(conn, case_id, action_id, today)
            if row is None:
                raise PageNotFound(f"no action {action_id} on this case today")
            if placed is None:  # not dialled here: the gate's stored verdict must allow it
                verdict = stored_verdict(row, now)
                if not verdict.allowed:
                    raise PageForbidden(_refusal(verdict, viewer.lang))
            target_type, target_id = row.target_type, row.target_id
            channel = row.channel if row.channel != "task" else "call"
        else:
            if outcome not in (Outcome.CONTACT_REFUSED, Outcome.WRONG_NUMBER):
                raise PageForbidden(word(viewer.lang, "agent.err.no_task"))
            channel = "call"
        if target_type == "borrower":
            target_id = case.borrower_id
        if not outcome and hardship:
            outcome = Outcome.HARDSHIP if target_type == "borrower" else Outcome.CONTACT_REACHED
        try:
            if not outcome:
                raise Refusal("agent.err.outcome_missing")
            if outcome == Outcome.PROMISE and (promise_amount.strip() or promise_due_on):
                wrapup.make_promise(
                    conn,
                    case_id=case_id,
                    amount=promise_amount,
                    due_on=_day(promise_due_on),
                    today=today,
                    agent=viewer.user.username,
                )
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
                interaction_id=(placed or {}).get("interaction_id"),
            )
        except (DomainError, ValueError) as exc:
            conn.rollback()
            return _case_page(
                request,
                viewer,
                case_id,
                status_code=422,
                error=_refused(exc, viewer.lang),
                wrap=action_id,
                call=call_id,
                form={"promise": {"amount": promise_amount, "due_on": promise_due_on}},
            )
    if power_mode(request):
        return _power_next(request, viewer, case_id)
    return RedirectResponse(f"/cases/{case_id}?done=outcome", status_code=303)


# --- calls the dialler places -------------------------------------------------------------------


def _call_state(request: Request, call_id: str | int | None) -> dict[str, Any] | None:
    """What the page may know of a placed call: its case, action, interaction, state (ringing,
    answered, ended), the outcome the network gave and the talk time — never the number. A call
    that ended without its result recorded yet is recorded now."""
    from arrears.services.calls import CallNotFound, call_status

    try:
        number = int(call_id) if call_id not in (None, "") else None
    except (TypeError, ValueError):
        return None
    if number is None:
        return None
    app = context_of(request).app
    try:
        found = call_status(app.engine, number, dialer=app.dialer, ring=app.keyring)
    except (CallNotFound, LookupError):
        return None
    state = "ended" if found.ended_at else ("answered" if found.answered_at else "ringing")
    return {
        "call_id": found.call_id,
        "case_id": found.case_id,
        "agent": found.agent,
        "action_id": _action_of_call(request, found.call_id),
        "interaction_id": found.interaction_id,
        "state": state,
        "outcome": found.outcome or "",
        "talk_seconds": int(found.talk_ms or 0) // 1000,
        "target_type": found.target_type,
        "target_id": found.target_id,
        "recorded": found.has_recording,
    }


def _action_of_call(request: Request, call_id: int) -> int | None:
    with context_of(request).begin() as conn:
        return wq.call_action(conn, call_id)


def _place(
    request: Request, viewer: Viewer, case_id: int, target: str, contact_id: str | None
) -> tuple[int | None, str]:
    """Place the call through the calls service: (call id, "") or (None, the refusal in the
    agent's words — the rule pack's reason and next allowed time, or why nothing could dial)."""
    from arrears.channels.telephony.port import DialerBusy, DialerUnavailable
    from arrears.compliance.port import RulePackUnavailable
    from arrears.services.calls import CallTargetHasNoNumber, place_call

    ctx = context_of(request)
    with ctx.begin() as conn:
        wq.case_for(conn, viewer, case_id)
    try:
        attempt = place_call(
            ctx.app.engine,
            ctx.app.dialer,
            ring=ctx.app.keyring,
            case_id=case_id,
            target=target,
            contact_id=contact_id,
            agent_user_id=viewer.user.username,
            at=ctx.now(),
            max_ring_seconds=ctx.app.settings.ring_timeout_seconds,
        )
    except DialerBusy:
        return None, word(viewer.lang, "agent.err.line_busy")
    except (DialerUnavailable, RulePackUnavailable, CallTargetHasNoNumber) as exc:
        key = {
            DialerUnavailable: "agent.err.dialler_down",
            RulePackUnavailable: "agent.err.rule_pack_down",
            CallTargetHasNoNumber: "agent.err.no_number",
        }[type(exc)]
        why = str(exc) if viewer.lang == "en" else word(viewer.lang, key)
        return None, f"{word(viewer.lang, 'agent.err.dial_failed')}: {why}"
    if attempt.call_id is None:
        return None, _refusal(attempt.verdict, viewer.lang)
    return attempt.call_id, ""


@router.post("/cases/{case_id}/call")
def post_call(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    target: Annotated[str, Form(max_length=16)] = "borrower",
    contact_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Call the borrower or a contact: the rule pack decides at this moment; the number is
    looked up and dialled on the server and never reaches the page."""
    viewer.require(Permission.WORK_CASES)
    call_id, refusal = _place(
        request, viewer, case_id, target, contact_id if target == "contact" else None
    )
    if call_id is None:
        return _case_page(request, viewer, case_id, status_code=409, refusal=refusal)
    return RedirectResponse(f"/cases/{case_id}?call={call_id}", status_code=303)


def _own_call(request: Request, viewer: Viewer, case_id: int, call_id: int) -> dict[str, Any]:
    """The state of a call on a case this agent may work, or 404."""
    viewer.require(Permission.WORK_CASES)
    with context_of(request).begin() as conn:
        wq.case_for(conn, viewer, case_id)
    state = _call_state(request, call_id)
    if state is None or state["case_id"] != case_id:
        raise PageNotFound(word(viewer.lang, "agent.err.no_call"))
    return state


@router.get("/cases/{case_id}/calls/{call_id}")
def call_state(request: Request, case_id: int, call_id: int, viewer: ViewerDep) -> Response:
    """The call's progress for the page to follow (JSON without any number)."""
    state = _own_call(request, viewer, case_id, call_id)
    shown = {k: state[k] for k in ("state", "outcome", "talk_seconds", "recorded")}
    return JSONResponse(shown, headers={"Cache-Control": "no-store"})


@router.post("/cases/{case_id}/calls/{call_id}/hangup")
def hang_up(request: Request, case_id: int, call_id: int, viewer: CheckedViewer) -> Response:
    from arrears.channels.telephony.port import CallUnknown
    from arrears.services.calls import hangup_call

    _own_call(request, viewer, case_id, call_id)
    ctx = context_of(request)
    with contextlib.suppress(CallUnknown):
        hangup_call(ctx.app.engine, ctx.app.dialer, call_id)
    return RedirectResponse(f"/cases/{case_id}?call={call_id}", status_code=303)


def _power_next(request: Request, viewer: Viewer, case_id: int) -> Response:
    """Power mode: with this case's calls done, take the next case and dial its first call."""
    ctx = context_of(request)
    now = ctx.now()
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        view = wq.case_view(conn, ctx.app.keyring, case, today, now)
        if _current_task(view, None) is not None:  # more to dial here first
            return RedirectResponse(f"/cases/{case_id}?done=outcome", status_code=303)
        nxt = wq.next_case(conn, viewer, today, now, skip=case_id)
        if nxt is None:
            return RedirectResponse("/agent?empty=1", status_code=303)
        task = _current_task(
            wq.case_view(conn, ctx.app.keyring, wq.case_for(conn, viewer, nxt), today, now), None
        )
    if task is None:
        return RedirectResponse(f"/cases/{nxt}", status_code=303)
    call_id, refusal = _place(
        request,
        viewer,
        nxt,
        task.row.target_type,
        task.row.target_id if task.row.target_type == "contact" else None,
    )
    if call_id is None:
        return _case_page(request, viewer, nxt, status_code=409, refusal=refusal)
    return RedirectResponse(f"/cases/{nxt}?call={call_id}", status_code=303)


def _refused(exc: BaseException, lang: str) -> str:
    """A form's refusal in the agent's language (the service names its sentence)."""
    if isinstance(exc, wrapup.CallbackRefused):
        text = f"{word(lang, 'agent.err.callback_refused')}: {_verdict_text(exc.verdict, lang)}"
        if exc.next_local is not None:
            text += f"; {word(lang, 'next_allowed')} {fmt_date(exc.next_local, lang)}"
        return text
    if isinstance(exc, wrapup.WrapUpInvalid):
        params = {
            k: fmt_money(v, lang) if isinstance(v, Money) else v for k, v in exc.params.items()
        }
        try:
            return word(lang, f"agent.err.{exc.key}").format(**params)
        except (KeyError, IndexError, ValueError):
            return str(exc)
    return error_text(lang, exc)


def _verdict_text(verdict: Any, lang: str) -> str:
    return rule_reason(lang, getattr(verdict, "rule_id", None), getattr(verdict, "params", None))


@router.post("/cases/{case_id}/promise")
def post_promise(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    amount: Annotated[str, Form(max_length=32)] = "",
    due_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A promise to pay: no more than is owed, within the policy's days; a refused form keeps
    what the agent typed."""
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    with ctx.begin() as conn:
        wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        try:
            wrapup.make_promise(
                conn,
                case_id=case_id,
                amount=amount,
                due_on=_day(due_on),
                today=today,
                agent=viewer.user.username,
            )
        except (DomainError, ValueError) as exc:
            conn.rollback()
            return _case_page(
                request,
                viewer,
                case_id,
                status_code=422,
                error=_refused(exc, viewer.lang),
                form={"promise": {"amount": amount, "due_on": due_on}},
            )
    return RedirectResponse(f"/cases/{case_id}?done=promise", status_code=303)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def _plan_form(
    instalments: int,
    first_due_on: str,
    interval_days: int | None,
    waive_penalty: bool,
    waive_interest: bool,
    reason: str = "",
) -> wrapup.PlanForm:
    return wrapup.PlanForm(
        instalments=instalments,
        first_due_on=_day(first_due_on),
        interval_days=interval_days or None,
        waive_penalty=waive_penalty,
        waive_interest=waive_interest,
        reason=reason,
    )


def _approval_text(approval: list[tuple[str, dict[str, Any]]], lang: str) -> list[str]:
    out = []
    for key, params in approval:
        shown = {k: fmt_money(v, lang) if isinstance(v, Money) else v for k, v in params.items()}
        out.append(word(lang, f"approval.{key}").format(**shown))
    return out


@router.post("/cases/{case_id}/plan/preview", response_class=HTMLResponse)
def plan_preview(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    instalments: Annotated[int, Form(ge=1, le=60)] = 3,
    first_due_on: Annotated[str, Form(max_length=10)] = "",
    interval_days: Annotated[int | None, Form(ge=0, le=366)] = None,
    waive_penalty: Annotated[bool, Form()] = False,
    waive_interest: Annotated[bool, Form()] = False,
) -> Response:
    """The live calculator: the plan these terms make, and whether it needs a team lead — the
    same check, and the same words, as the submit."""
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    form = _plan_form(instalments, first_due_on, interval_days, waive_penalty, waive_interest)
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        try:
            checked = wrapup.check_plan(
                conn, case_id, form, today, plan_limits(viewer.user, case.currency)
            )
            plan, reasons, error = checked.plan, _approval_text(checked.approval, viewer.lang), ""
        except (DomainError, ValueError) as exc:
            plan, reasons, error = None, [], _refused(exc, viewer.lang)
    return render(
        request,
        "plan_preview.html",
        viewer.lang,
        plan=plan,
        reasons=reasons,
        error=error,
        approval=lambda said: said,  # already in the agent's words
    )


@router.post("/cases/{case_id}/plan")
def post_plan(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    instalments: Annotated[int, Form(ge=1, le=60)] = 3,
    first_due_on: Annotated[str, Form(max_length=10)] = "",
    interval_days: Annotated[int | None, Form(ge=0, le=366)] = None,
    waive_penalty: Annotated[bool, Form()] = False,
    waive_interest: Annotated[bool, Form()] = False,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Propose the plan (active at once within the agent's limits, else to the team lead); the
    day's offer-plan task ends with it."""
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    form = _plan_form(
        instalments, first_due_on, interval_days, waive_penalty, waive_interest, reason
    )
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        try:
            result = wrapup.submit_plan(
                conn,
                case_id=case_id,
                form=form,
                today=today,
                limits=plan_limits(viewer.user, case.currency),
                agent=viewer.user.username,
                at=ctx.now(),
            )
        except (DomainError, ValueError) as exc:
            conn.rollback()
            return _case_page(
                request,
                viewer,
                case_id,
                status_code=422,
                error=_refused(exc, viewer.lang),
                form={"plan": form},
            )
    done = "plan_active" if str(result.status) == "active" else "plan_proposed"
    return RedirectResponse(f"/cases/{case_id}?done={done}", status_code=303)


@router.post("/cases/{case_id}/callback")
def post_callback(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    at: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A call-back at the time the borrower named (their zone), if the rule pack allows a call
    then; else the refusal says when the next allowed time is."""
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    try:
        local = datetime.fromisoformat(at.strip()) if at.strip() else None
    except ValueError:
        local = None

    def dial_check(conn: Any, cid: int, moment: datetime) -> Any:
        return check_dial(
            conn, case_id=cid, target="borrower", contact_id=None, at=moment, record=False
        )

    with ctx.begin() as conn:
        wq.case_for(conn, viewer, case_id)
        today = ctx.today(conn)
        try:
            wrapup.schedule_callback(
                conn,
                case_id=case_id,
                local_time=local,
                today=today,
                now=ctx.now(),
                agent=viewer.user.username,
                check=dial_check,
            )
        except (DomainError, ValueError) as exc:
            conn.rollback()
            return _case_page(
                request,
                viewer,
                case_id,
                status_code=422,
                error=_refused(exc, viewer.lang),
                form={"callback": {"at": at}},
            )
    return RedirectResponse(f"/cases/{case_id}?done=callback", status_code=303)


@router.post("/cases/{case_id}/note")
def post_note(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    body: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    viewer.require(Permission.WORK_CASES)
    ctx = context_of(request)
    with ctx.begin() as conn:
        wq.case_for(conn, viewer, case_id)
        try:
            wrapup.add_note(
                conn,
                case_id=case_id,
                body=body,
                author=viewer.user.username,
                at=ctx.now(),
                today=ctx.today(conn),
            )
        except (DomainError, ValueError) as exc:
            conn.rollback()
            return _case_page(
                request,
                viewer,
                case_id,
                status_code=422,
                error=_refused(exc, viewer.lang),
                form={"note": body},
            )
    return RedirectResponse(f"/cases/{case_id}?done=note", status_code=303)


@router.post("/agent/power")
def set_power(
    request: Request,
    viewer: CheckedViewer,
    on: Annotated[str, Form(max_length=4)] = "",
    back: Annotated[str, Form(max_length=200)] = "/agent",
) -> Response:
    """Power mode on or off for this browser: wrapping up a case dials the next one."""
    viewer.require(Permission.WORK_CASES)
    target = back if back.startswith("/") and not back.startswith("//") else "/agent"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        POWER_COOKIE, "1" if on == "1" else "0", httponly=True, samesite="strict", path="/"
    )
    return response
