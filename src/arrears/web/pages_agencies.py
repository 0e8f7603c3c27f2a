"""The agencies page (team lead, manager): each external agency with its commission tiers and
the cases placed with it now, the placement rules in the order they are tried, this month's
commission, and the cases placed. Read only: agencies and rules are managed by
`arrears agency` (docs/agencies.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from arrears.api.context import context_of
from arrears.services import agencies as ag
from arrears.services.agency_commission import monthly
from arrears.services.users import Permission
from arrears.web.render import render
from arrears.web.session import ViewerDep

router = APIRouter(include_in_schema=False)


@router.get("/agencies", response_class=HTMLResponse)
def agencies_page(request: Request, viewer: ViewerDep) -> Response:
    viewer.require(Permission.VIEW_FLOOR)
    ctx = context_of(request)
    with ctx.begin() as conn:
        today = ctx.today(conn)
        agencies = ag.list_agencies(conn)
        rules = ag.list_rules(conn)
        placed = ag.placements_of(conn)
        commission = monthly(conn, f"{today:%Y-%m}")
    earned: dict[str, list[tuple[int, str]]] = {}
    for line in commission:
        earned.setdefault(line.agency_id, []).append((line.commission, line.currency))
    return render(
        request,
        "agencies.html",
        viewer.lang,
        viewer=viewer,
        today=today,
        agencies=agencies,
        rules=rules,
        placed=placed,
        earned=earned,
        percent=ag.percent,
    )
