"""What the pages read, from the workbench service: the edge runs no SQL of its own. This module
turns the signed-in viewer into the service's scope and the service's errors into page errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from arrears.compliance.port import Verdict, stored_verdict
from arrears.privacy.keyring import KeyRing
from arrears.services import workbench as wb
from arrears.services.outcomes import CaseNotFound
from arrears.services.users import Permission
from arrears.services.workbench import (
    CaseView,
    Party,
    QueueRow,
    Reason,
    action_of_case,
    call_action,
    floor_counts,
    hidden,
    masked,
    plan_decisions,
    why_now,
)
from arrears.web.session import PageForbidden, PageNotFound, Viewer

__all__ = [
    "ActionView",
    "CaseView",
    "Party",
    "QueueRow",
    "Reason",
    "action_of_case",
    "call_action",
    "case_for",
    "case_view",
    "floor_counts",
    "hidden",
    "masked",
    "next_case",
    "plan_decisions",
    "queue_rows",
    "scope_of",
    "visible_clause",
    "why_now",
]


def scope_of(viewer: Viewer) -> wb.Scope:
    return wb.Scope(
        username=viewer.user.username,
        queues=tuple(viewer.queues),
        see_all=viewer.can(Permission.SEE_ALL_CASES),
        see_team=viewer.can(Permission.SEE_TEAM_CASES),
    )


def visible_clause(viewer: Viewer) -> Any:
    return wb.visible_clause(scope_of(viewer))


def case_for(conn: Connection, viewer: Viewer, case_id: int) -> Any:
    """The case, if the viewer may open it: 404 when absent, 403 when outside their queue/team."""
    try:
        return wb.case_row(conn, scope_of(viewer), case_id)
    except CaseNotFound as exc:
        raise PageNotFound(str(exc)) from None
    except wb.CaseNotVisible as exc:
        raise PageForbidden(str(exc)) from None


def next_case(
    conn: Connection, viewer: Viewer, today: date, now: datetime, skip: int | None = None
) -> int | None:
    return wb.next_case(conn, scope_of(viewer), today, now, skip=skip)


def queue_rows(conn: Connection, viewer: Viewer, today: date, limit: int = 30) -> list[QueueRow]:
    return wb.queue_rows(conn, scope_of(viewer), today, limit)


@dataclass
class ActionView:
    row: Any
    verdict: Verdict
    target_label: str


def case_view(conn: Connection, ring: KeyRing, case: Any, today: date, now: datetime) -> CaseView:
    """The case file, with each of today's actions and the verdict the gate stored on it (the
    live verdict is asked when a call is placed)."""
    view = wb.case_view(conn, ring, case, today)
    rows, view.actions = view.actions, []
    for act in rows:
        if act.channel not in wb.WORK_CHANNELS and act.status != "blocked":
            label = act.template
        elif act.target_type == "contact":
            who = view.contact(act.target_id)
            label = who.name if who else act.target_id
        else:
            label = view.borrower_party.name
        view.actions.append(ActionView(act, stored_verdict(act, now), label))
    return view
