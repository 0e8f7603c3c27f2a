"""Who is looking: the session cookie, the signed-in user, CSRF checks and the page language."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from arrears.api.context import Context, context_of
from arrears.services.auth import Session, csrf_matches, find_session
from arrears.services.users import Permission, User, find_user, role_of, team_queue_names
from arrears.web.i18n import default_lang, pick
from arrears.web.people import has_workbench

COOKIE = "arrears_session"
LANG_COOKIE = "arrears_lang"


class SignInNeeded(Exception):
    """No valid session: pages redirect to the sign-in form."""


class PageForbidden(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PageNotFound(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass
class Viewer:
    user: User
    session: Session
    lang: str
    queues: list[str] = field(default_factory=list)

    def can(self, permission: Permission) -> bool:
        return self.user.can(permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PageForbidden("error.role_may_not")  # a catalogue key, said in the page language

    @property
    def csrf(self) -> str:
        return self.session.csrf


def request_lang(request: Request, ctx: Context, user: User | None = None) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen:
        return pick(chosen)
    if user is not None:
        return pick(user.language)
    return default_lang(ctx.app.settings.rule_pack)


def is_secure(request: Request, ctx: Context) -> bool:
    if ctx.cookie_secure is not None:
        return ctx.cookie_secure
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, ctx: Context, sid: str) -> None:
    response.set_cookie(
        COOKIE,
        sid,
        httponly=True,
        secure=is_secure(request, ctx),
        samesite="strict",
        path="/",
        max_age=10 * 3600,
    )


def viewer_or_none(request: Request) -> Viewer | None:
    """The signed-in user, None without a valid session; PageForbidden for an API account."""
    ctx = context_of(request)
    sid = request.cookies.get(COOKIE)
    if not sid:
        return None
    with ctx.begin() as conn:
        session = find_session(conn, sid, ctx.now())
        if session is None:
            return None
        role = role_of(conn, session.username)
        if role is not None and not has_workbench(role):  # made an API account since sign-in
            raise PageForbidden("signin_api_only")  # a catalogue key: the page says it in words
        user = find_user(conn, session.username)
        if user is None or not user.active:
            return None
        queues = team_queue_names(conn, user.team_id)
    return Viewer(user, session, request_lang(request, ctx, user), queues)


def current_viewer(request: Request) -> Viewer:
    viewer = viewer_or_none(request)
    if viewer is None:
        raise SignInNeeded()
    request.state.viewer = viewer
    return viewer


async def checked_viewer(request: Request) -> Viewer:
    """The viewer of a state-changing request, whose CSRF token (form field or header) matches."""
    viewer = current_viewer(request)
    token = request.headers.get("X-CSRF-Token")
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value: Any = form.get("csrf")
        token = value if isinstance(value, str) else None
    if not csrf_matches(viewer.session, token):
        raise CsrfFailed()
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
CheckedViewer = Annotated[Viewer, Depends(checked_viewer)]
