"""The team lead's floor: today's work, plans awaiting approval, assignment of cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select, update

from arrears.api.context import context_of
from arrears.domain.errors import DomainError
from arrears.services.users import Permission, Role
from arrears.store import tables as t
from arrears.store.tables_web import team_queues
from arrears.web import queries as wq
from arrears.web.people import workbench_users
from arrears.web.render import render
from arrears.web.session import CheckedViewer, PageForbidden, PageNotFound, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)


def _scope(viewer: Viewer) -> list[str] | None:
    """The queues a viewer oversees: a team lead's team; a manager sees every queue."""
    if viewer.can(Permission.SEE_ALL_CASES):
        return None
    return viewer.queues


@router.get("/lead", response_class=HTMLResponse)
def floor(request: Request, viewer: ViewerDep, done: str = "") -> Response:
    viewer.require(Permission.VIEW_FLOOR)
    ctx = context_of(request)
    queues = _scope(viewer)
    with ctx.begin() as conn:
        today = ctx.today(conn)
        counts = wq.floor_counts(conn, queues, today)
        c, p = t.cases, t.plans
        scope = c.c.queue.in_(queues) if queues is not None else c.c.id.isnot(None)
        pending = list(
            conn.execute(
                select(p, c.c.queue, c.c.assigned_to, c.c.hardship, c.c.dpd)
                .join(c, c.c.id == p.c.case_id)
                .where(p.c.status == "proposed", scope)
                .order_by(p.c.proposed_on, p.c.id)
            )
        )
        cases = list(
            conn.execute(
                select(c)
                .where(c.c.status == "open", scope)
                .order_by(c.c.overdue_amount.desc(), c.c.id)
                .limit(50)
            )
        )
        by_agent = _by_agent(conn, queues, today)
        agents = [
            u
            for u in workbench_users(conn)
            if u.role in (Role.AGENT, Role.TEAM_LEAD)
            and u.active
            and (queues is None or u.team_id == viewer.user.team_id)
        ]
        all_queues = sorted(set(conn.scalars(select(team_queues.c.queue))) | {"early"})
    return render(
        request,
        "lead.html",
        viewer.lang,
        viewer=viewer,
        today=today,
        counts=counts,
        pending=pending,
        cases=cases,
        agents=agents,
        by_agent=by_agent,
        queues=all_queues if queues is None else queues,
        can_approve=viewer.can(Permission.APPROVE_PLANS),
        can_assign=viewer.can(Permission.ASSIGN),
        done=done,
    )


def _by_agent(conn: Connection, queues: list[str] | None, today: object) -> list[tuple[str, int]]:
    from sqlalchemy import func

    i, c = t.interactions, t.cases
    q = (
        select(i.c.agent, func.count())
        .join(c, c.c.id == i.c.case_id)
        .where(i.c.business_date == today, i.c.agent.isnot(None))
        .group_by(i.c.agent)
        .order_by(i.c.agent)
    )
    if queues is not None:
        q = q.where(c.c.queue.in_(queues))
    return [(r[0], int(r[1])) for r in conn.execute(q)]


def _plan_in_scope(conn: Connection, viewer: Viewer, plan_id: int) -> object:
    row = conn.execute(
        select(t.plans.c.id, t.plans.c.case_id, t.cases.c.queue)
        .join(t.cases, t.cases.c.id == t.plans.c.case_id)
        .where(t.plans.c.id == plan_id)
    ).first()
    if row is None:
        raise PageNotFound(f"no plan {plan_id}")
    if row.queue not in viewer.queues:
        raise PageForbidden(f"plan {plan_id} belongs to another team's case")
    return row


@router.post("/lead/plans/{plan_id}/approve")
def approve(request: Request, plan_id: int, viewer: CheckedViewer) -> Response:
    from arrears.services.plans import approve_plan

    viewer.require(Permission.APPROVE_PLANS)
    ctx = context_of(request)
    with ctx.begin() as conn:
        row = _plan_in_scope(conn, viewer, plan_id)
        today = ctx.today(conn)
        try:
            approve_plan(conn, plan_id, by=viewer.user.username, on=today)
        except DomainError as exc:
            raise PageForbidden(str(exc)) from None
        del row
    return RedirectResponse("/lead?done=approved", status_code=303)


@router.post("/lead/plans/{plan_id}/reject")
def reject(request: Request, plan_id: int, viewer: CheckedViewer) -> Response:
    from arrears.services.plans import cancel_plan

    viewer.require(Permission.APPROVE_PLANS)
    ctx = context_of(request)
    with ctx.begin() as conn:
        _plan_in_scope(conn, viewer, plan_id)
        try:
            cancel_plan(conn, plan_id, on=ctx.today(conn))
        except DomainError as exc:
            raise PageForbidden(str(exc)) from None
    return RedirectResponse("/lead?done=rejected", status_code=303)


@router.post("/lead/cases/{case_id}/assign")
def assign(
    request: Request,
    case_id: int,
    viewer: CheckedViewer,
    assignee: Annotated[str, Form(max_length=64)] = "",
    queue: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Assign a case to an agent of the team (empty: back to the queue), or move its queue."""
    viewer.require(Permission.ASSIGN)
    ctx = context_of(request)
    with ctx.begin() as conn:
        case = wq.case_for(conn, viewer, case_id)
        changes: dict[str, object] = {"assigned_to": assignee or None}
        if assignee:
            agent = next((u for u in workbench_users(conn) if u.username == assignee), None)
            if agent is None or agent.team_id != viewer.user.team_id:
                raise PageForbidden(f"{assignee} is not in your team")
        if queue and queue != case.queue:
            if queue not in set(conn.scalars(select(team_queues.c.queue))):
                raise PageNotFound(f"no queue {queue}")
            changes["queue"] = queue
        conn.execute(update(t.cases).where(t.cases.c.id == case_id).values(**changes))
    return RedirectResponse("/lead?done=assigned", status_code=303)
