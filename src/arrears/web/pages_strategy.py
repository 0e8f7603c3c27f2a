"""The strategist's page: deployed strategies, deploy a file, approve another's, roll back."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from arrears.api.context import context_of
from arrears.services import strategies as svc
from arrears.services.users import Permission
from arrears.web.i18n import error_text
from arrears.web.render import render
from arrears.web.session import CheckedViewer, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)
DONE = ("deploy", "approve", "rollback")


def _may_see(viewer: Viewer) -> None:
    if not viewer.can(Permission.APPROVE_STRATEGIES):
        viewer.require(Permission.DEPLOY_STRATEGIES)


def _page(
    request: Request,
    viewer: Viewer,
    *,
    error: str = "",
    problems: list[tuple[int, int, str]] | None = None,
    source: str = "",
    done: str = "",
    status_code: int = 200,
) -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        today = ctx.today(conn)
        found = svc.list_versions(conn)
        current = svc.version_in_force(conn, today)
    return render(
        request,
        "strategies.html",
        viewer.lang,
        status_code=status_code,
        viewer=viewer,
        today=today,
        versions=list(reversed(found)),
        current=current,
        may_deploy=viewer.can(Permission.DEPLOY_STRATEGIES),
        may_approve=viewer.can(Permission.APPROVE_STRATEGIES),
        error=error,
        problems=problems or [],
        source=source,
        done=done if done in DONE else "",
    )


def _failed(request: Request, viewer: Viewer, exc: Exception, source: str = "") -> Response:
    problems = [
        (p.line, p.column, p.message) for p in getattr(exc, "problems", []) if p.severity == "error"
    ]
    return _page(
        request,
        viewer,
        error=error_text(viewer.lang, exc),
        problems=problems,
        source=source,
        status_code=422,
    )


@router.get("/strategies", response_class=HTMLResponse)
def strategies_page(request: Request, viewer: ViewerDep, done: str = "") -> Response:
    _may_see(viewer)
    return _page(request, viewer, done=done)


@router.post("/strategies/deploy")
def deploy(
    request: Request,
    viewer: CheckedViewer,
    source: Annotated[str, Form(min_length=1, max_length=200_000)],
    migrate_open_cases: Annotated[bool, Form()] = False,
) -> Response:
    viewer.require(Permission.DEPLOY_STRATEGIES)
    ctx = context_of(request)
    source = source.replace("\r\n", "\n")  # a browser's textarea sends CRLF: keep the file's
    try:
        with ctx.begin() as conn:
            svc.deploy(
                conn,
                ctx.app.keyring,
                source=source,
                path="<web>",
                by=viewer.user.username,
                migrate_open_cases=migrate_open_cases,
                at=ctx.now(),
            )
    except svc.ERRORS as exc:
        return _failed(request, viewer, exc, source)
    return RedirectResponse("/strategies?done=deploy", status_code=303)


def _shares(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in filter(None, (p.strip() for p in text.replace("，", ",").split(","))):
        name, sep, pct = pair.partition("=")
        pct = pct.strip().rstrip("%")
        if not sep or not pct.isdigit():
            raise svc.StrategyShareInvalid(f"{pair!r}: write VARIANT=PERCENT, e.g. challenger=30")
        out[name.strip()] = int(pct)
    return out


@router.post("/strategies/{name}/{version}/approve")
def approve(
    request: Request,
    name: str,
    version: int,
    viewer: CheckedViewer,
    active_from: Annotated[date, Form()],
    shares: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    viewer.require(Permission.APPROVE_STRATEGIES)
    ctx = context_of(request)
    try:
        with ctx.begin() as conn:
            svc.approve(
                conn,
                ctx.app.keyring,
                name=name,
                version=version,
                by=viewer.user.username,
                active_from=active_from,
                shares=_shares(shares),
                at=ctx.now(),
            )
    except svc.ERRORS as exc:
        return _failed(request, viewer, exc)
    return RedirectResponse("/strategies?done=approve", status_code=303)


@router.post("/strategies/{name}/rollback")
def rollback(
    request: Request,
    name: str,
    viewer: CheckedViewer,
    active_from: Annotated[date, Form()],
) -> Response:
    viewer.require(Permission.DEPLOY_STRATEGIES)
    ctx = context_of(request)
    try:
        with ctx.begin() as conn:
            svc.rollback(
                conn,
                ctx.app.keyring,
                name=name,
                by=viewer.user.username,
                from_=active_from,
                at=ctx.now(),
            )
    except svc.ERRORS as exc:
        return _failed(request, viewer, exc)
    return RedirectResponse("/strategies?done=rollback", status_code=303)
