"""Users and roles, managed by an admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from arrears.api.context import context_of
from arrears.services import users as us
from arrears.web import audit
from arrears.web.i18n import error_text
from arrears.web.people import creatable_roles, people
from arrears.web.render import render
from arrears.web.session import CheckedViewer, ViewerDep

router = APIRouter(include_in_schema=False)


def _page(request: Request, viewer: ViewerDep, error: str = "", status_code: int = 200) -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        accounts = people(conn)
        teams = us.team_ids(conn)
    return render(
        request,
        "admin_users.html",
        viewer.lang,
        status_code=status_code,
        viewer=viewer,
        people=accounts,
        teams=teams,
        roles=creatable_roles(),
        error=error,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, viewer: ViewerDep) -> Response:
    viewer.require(us.Permission.MANAGE_USERS)
    return _page(request, viewer)


@router.post("/admin/users")
def add_user(
    request: Request,
    viewer: CheckedViewer,
    username: Annotated[str, Form(min_length=2, max_length=64, pattern=r"^[a-z0-9_.-]+$")],
    password: Annotated[str, Form(max_length=256)],
    role: Annotated[str, Form(max_length=16)],
    display_name: Annotated[str, Form(max_length=128)] = "",
    team_id: Annotated[str, Form(max_length=64)] = "",
    plan_max_instalments: Annotated[int, Form(ge=1, le=60)] = 2,
) -> Response:
    viewer.require(us.Permission.MANAGE_USERS)
    ctx = context_of(request)
    try:
        with ctx.begin() as conn:
            us.add_user(
                conn,
                username,
                password,
                role,
                display_name=display_name or None,
                team_id=team_id or None,
                plan_max_instalments=plan_max_instalments,
                at=ctx.now(),
            )
            detail = {"action": "added", "role": role, "team": team_id or None}
            audit.append(
                conn,
                ctx.app.keyring,
                audit.USER,
                viewer.user.username,
                f"user:{username}",
                detail,
                ctx.now(),
            )
    except (us.UserExists, us.RoleUnknown, us.PasswordTooWeak) as exc:
        return _page(request, viewer, error_text(viewer.lang, exc), 422)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{username}/active")
def set_active(
    request: Request,
    username: str,
    viewer: CheckedViewer,
    active: Annotated[bool, Form()] = False,
) -> Response:
    viewer.require(us.Permission.MANAGE_USERS)
    ctx = context_of(request)
    with ctx.begin() as conn:
        us.set_active(conn, username, active)
        action = "enabled" if active else "disabled"
        audit.append(
            conn,
            ctx.app.keyring,
            audit.USER,
            viewer.user.username,
            f"user:{username}",
            {"action": action},
            ctx.now(),
        )
    return RedirectResponse("/admin/users", status_code=303)
