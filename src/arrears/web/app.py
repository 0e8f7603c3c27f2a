"""The one FastAPI application: the HTTP API under /api/v1 and the server-rendered pages."""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from arrears.api import problems
from arrears.api.context import Context, OtpSender
from arrears.api.contract import contract_in_openapi
from arrears.api.routes import router as api_router
from arrears.api.security import BodyLimit
from arrears.bootstrap import App
from arrears.web import i18n
from arrears.web.api_docs import mount_api_docs
from arrears.web.probes import mount_probes
from arrears.web.render import render
from arrears.web.session import (
    CsrfFailed,
    PageForbidden,
    PageNotFound,
    SignInNeeded,
    request_lang,
)

PAGE_MODULES = (
    "pages_auth",
    "pages_agent",
    "pages_lead",
    "pages_manager",
    "pages_agencies",
    "pages_exports",
    "pages_settlement",
    "pages_legal",
    "pages_complaints",
    "pages_strategy",
    "pages_lab",
    "pages_admin",
    "pages_borrower",
    "pages_unsubscribe",
)

API_DESCRIPTION = """Feed borrowers, contacts, accounts and due items; post payments with an
`Idempotency-Key`; read cases, interactions, promises and plans; subscribe to signed webhooks.

Every call carries an integration token (`Authorization: Bearer arr_<id>_<secret>`) whose scopes
allow it. Amounts are decimal strings in the account's currency. Errors are RFC 9457 problem
details (`application/problem+json`) naming the fields at fault in `errors`."""

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # borrower links carry their token in the path: never leak it to another site
    "Referrer-Policy": "no-referrer",
}


def create_app(
    app: App,
    *,
    business_date: date | None = None,
    clock: Callable[[], datetime] | None = None,
    otp_sender: OtpSender | None = None,
    cookie_secure: bool | None = None,
) -> FastAPI:
    """The web application and API over the App's database and key ring."""
    api = FastAPI(
        title="arrears",
        version="1.0.0",
        summary="Collections platform: feed accounts and payments, read cases, receive events.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served from the package under the app's own policy: mount_api_docs
        redoc_url=None,
    )
    ctx = Context(
        app, business_date=business_date, otp_sender=otp_sender, cookie_secure=cookie_secure
    )
    if clock is not None:
        ctx.clock = clock
    api.state.ctx = ctx

    api.add_exception_handler(problems.ProblemError, problems.on_problem)

    async def on_validation(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return await problems.on_validation(request, exc)
        assert isinstance(exc, RequestValidationError)
        return _error_page(request, 422, _invalid_fields(request, exc.errors()), translated=True)

    async def on_http(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return await problems.on_http(request, exc)
        assert isinstance(exc, StarletteHTTPException)
        return _error_page(request, exc.status_code, str(exc.detail))

    async def on_sign_in(request: Request, exc: Exception) -> Response:
        if request.method == "GET":
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return _error_page(request, 401, "error.detail_401")

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        return _error_page(request, 403, exc.detail)

    async def on_not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageNotFound)
        return _error_page(request, 404, exc.detail)

    async def on_csrf(request: Request, exc: Exception) -> Response:
        return _error_page(request, 403, "csrf_expired")

    async def on_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return problems.problem_response(request, 500, "internal", None)
        return _error_page(request, 500, "error.detail_500")

    api.add_exception_handler(RequestValidationError, on_validation)
    api.add_exception_handler(StarletteHTTPException, on_http)
    api.add_exception_handler(SignInNeeded, on_sign_in)
    api.add_exception_handler(PageForbidden, on_forbidden)
    api.add_exception_handler(PageNotFound, on_not_found)
    api.add_exception_handler(CsrfFailed, on_csrf)
    api.add_exception_handler(Exception, on_error)

    @api.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    api.include_router(api_router)
    api.add_middleware(BodyLimit)  # 413 before a large body is read; 401 before an API body

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = contract_in_openapi(
                problems.problems_in_openapi(
                    get_openapi(
                        title=api.title,
                        version=api.version,
                        summary=api.summary,
                        description=API_DESCRIPTION,
                        routes=api.routes,
                    )
                )
            )
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    for name in PAGE_MODULES:  # every page module is part of the package: none is optional
        api.include_router(importlib.import_module(f"arrears.web.{name}").router)
    mount_api_docs(api, "/api/v1/docs", "/api/v1/openapi.json")
    api.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )
    mount_probes(api, app)  # /healthz, /readyz, /metrics and the latency of every request
    return api


_CJK = re.compile(r"[\u4e00-\u9fff]")


def _error_page(
    request: Request, status: int, detail: str, *, translated: bool = False
) -> Response:
    """The error page in the user's language: `detail` is a catalogue key or, on an English
    page, the precise sentence; a Chinese page falls back to the status's own sentence."""
    ctx = request.app.state.ctx
    viewer = getattr(request.state, "viewer", None)
    lang = viewer.lang if viewer else request_lang(request, ctx)
    words = i18n.catalogue(lang)
    if detail in words:
        detail = words[detail]
    elif detail and not translated and (lang == "en") == bool(_CJK.search(detail)):
        detail = words.get(f"error.detail_{status}") or words["error.detail_400"]
    title = words.get(f"error.title_{status}") or words["error.title_400"]
    return render(
        request,
        "error.html",
        lang,
        status_code=status,
        status=status,
        title=title,
        detail=detail,
        viewer=viewer,
    )


def _invalid_fields(request: Request, errors: Sequence[Any]) -> str:
    """Pydantic's field errors as one line in the user's language: field name, then what is
    wrong (the message of the error's type, with its limits)."""
    ctx = request.app.state.ctx
    viewer = getattr(request.state, "viewer", None)
    lang = viewer.lang if viewer else request_lang(request, ctx)
    words = i18n.catalogue(lang)
    parts = []
    for e in errors:
        name = str(e.get("loc", ("",))[-1])
        field = words.get(f"field.{name}")  # a parameter with no name in words: none shown
        sentence = words.get(f"validation.{e.get('type')}") or words["validation.other"]
        limits = {k: str(v) for k, v in (e.get("ctx") or {}).items()}
        try:
            sentence = sentence.format(**limits)
        except (KeyError, IndexError):
            sentence = words["validation.other"]
        if field is None:
            parts.append(sentence)
        else:
            parts.append(f"{field}：{sentence}" if lang == "zh" else f"{field}: {sentence}")
    return "；".join(parts) if lang == "zh" else "; ".join(parts)
