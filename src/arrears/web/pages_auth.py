"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from arrears.api.context import context_of
from arrears.services.auth import (
    SignInFailed,
    SignInLocked,
    authenticate,
    close_session,
    open_session,
)
from arrears.services.users import role_of
from arrears.web import audit
from arrears.web.people import HOME, has_workbench
from arrears.web.render import render
from arrears.web.session import (
    COOKIE,
    LANG_COOKIE,
    CheckedViewer,
    is_secure,
    request_lang,
    set_session_cookie,
    viewer_or_none,
)

router = APIRouter(include_in_schema=False)

PRE_COOKIE = "arrears_pre"


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(context_of(request).secret, salt="sign-in")


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


def _login_page(
    request: Request, error: str | None = None, status_code: int = 200, next_url: str = ""
) -> Response:
    ctx = context_of(request)
    nonce = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(16)
    token = _serializer(request).dumps(nonce)
    response = render(
        request,
        "login.html",
        request_lang(request, ctx),
        status_code=status_code,
        error=error,
        form_token=token,
        next_url=next_url,
    )
    response.set_cookie(
        PRE_COOKIE, nonce, httponly=True, samesite="strict", secure=is_secure(request, ctx)
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    return _login_page(request, next_url=_safe_next(next) or "")


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    ctx = context_of(request)
    lang = request_lang(request, ctx)
    try:
        nonce = _serializer(request).loads(csrf, max_age=3600)
    except BadSignature:
        nonce = None
    cookie = request.cookies.get(PRE_COOKIE) or ""
    if nonce is None or not hmac.compare_digest(str(nonce), cookie):
        return _login_page(request, "CSRF", 403)
    now = ctx.now()
    remote = request.client.host if request.client else None
    ring = ctx.app.keyring
    refused, result = "", ""
    with ctx.begin() as conn:
        role = role_of(conn, username)
    try:  # takes a try from the account's and this source's counters before checking
        authenticate(ctx.engine, username, password, now, remote, secret=ctx.secret)
    except SignInLocked:
        refused, result = "signin_locked", "locked"
    except SignInFailed:
        refused, result = "signin_failed", "failed"
    else:
        if role is None or not has_workbench(role):  # an API account: no workbench
            refused, result = "signin_api_only", "refused"
    if refused:
        with ctx.begin() as conn:
            known = username if role is not None else None
            audit.sign_in(conn, ring, username=known, result=result, remote=remote, at=now)
    if refused:
        status = {"signin_locked": 429, "signin_failed": 401}.get(refused, 403)
        return _login_page(request, refused, status, next)
    assert role is not None
    with ctx.begin() as conn:
        sid, _ = open_session(conn, username, now)
        audit.sign_in(conn, ring, username=username, result="signed_in", remote=remote, at=now)
    target = _safe_next(next) or HOME[role]
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, ctx, sid)
    response.delete_cookie(PRE_COOKIE)
    del lang
    return response


@router.post("/logout")
def logout(request: Request, viewer: CheckedViewer) -> Response:
    ctx = context_of(request)
    sid = request.cookies.get(COOKIE)
    if sid:
        remote = request.client.host if request.client else None
        with ctx.begin() as conn:
            close_session(conn, sid)
            audit.sign_out(
                conn, ctx.app.keyring, username=viewer.user.username, remote=remote, at=ctx.now()
            )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/")
def home(request: Request) -> Response:
    viewer = viewer_or_none(request)
    if viewer is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME[viewer.user.role.value], status_code=303)


@router.get("/lang/{lang}")
def switch_lang(request: Request, lang: str, back: str = "/") -> Response:
    response = RedirectResponse(_safe_next(back) or "/", status_code=303)
    response.set_cookie(
        LANG_COOKIE, "en" if lang == "en" else "zh", samesite="lax", max_age=365 * 86400
    )
    return response
