"""Bearer integration tokens: hashed at rest, each with scopes and an expiry. And the limit on
request bodies: a body over the limit is refused with 413 before it is read (from its
Content-Length, or as soon as a chunked body passes the limit), and an API call that changes
something is refused with 401 before its body is read when it carries no valid token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from arrears.api.context import context_of
from arrears.api.problems import ProblemError, problem_response
from arrears.services.auth import Integration, Scope, TokenExpired, TokenInvalid, check_token

API_MAX_BODY = 1 << 20  # 1 MiB: a page of upserts; files go through `arrears import`
WEB_MAX_BODY = 64 << 10  # 64 KiB: the web's forms are small
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(auto_error=False, description="Integration token: `arr_<id>_<secret>`")

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="arrears"'}


def require(scope: Scope) -> Callable[..., Integration]:
    def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> Integration:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ProblemError(
                401,
                "unauthenticated",
                "send an integration token: Authorization: Bearer arr_<id>_<secret>",
                headers=_CHALLENGE,
            )
        ctx = context_of(request)
        try:
            with ctx.begin() as conn:
                integration = check_token(conn, credentials.credentials, now=ctx.now())
        except TokenInvalid as exc:
            kind = "token-expired" if isinstance(exc, TokenExpired) else "token-invalid"
            raise ProblemError(401, kind, str(exc), headers=_CHALLENGE) from None
        if scope not in integration.scopes:
            raise ProblemError(
                403,
                "scope-missing",
                f"this token lacks the scope {scope}; ask an admin for a token with it",
            )
        return integration

    return dependency


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes; send it in smaller pages"


class BodyLimit:
    """ASGI middleware: bodies over the limit get 413 before they are read; API calls with a
    body get 401 before it is read unless they carry a token that is valid now (the scope is
    checked later, by the route)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODILESS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        is_api = scope["path"].startswith("/api/")
        limit = API_MAX_BODY if is_api else WEB_MAX_BODY
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(request, is_api, 413, "too-large", _too_large(limit), scope, send)
            return
        if is_api:
            problem = await self._unauthenticated(request)
            if problem is not None:
                kind, detail = problem
                await self._refuse(request, True, 401, kind, detail, scope, send)
                return
        if declared is not None:  # the server holds the client to its Content-Length
            await self.app(scope, receive, send)
            return
        # a chunked body: read it here, up to the limit, before the application sees any of it
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > limit:
                await self._refuse(
                    request, is_api, 413, "too-large", _too_large(limit), scope, send
                )
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _unauthenticated(self, request: Request) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return (
                "unauthenticated",
                "send an integration token: Authorization: Bearer arr_<id>_<secret>",
            )
        ctx = request.app.state.ctx

        def check() -> str | None:
            try:
                with ctx.begin() as conn:
                    check_token(conn, token.strip(), now=ctx.now())
            except TokenExpired as exc:
                return f"token-expired\x1f{exc}"
            except TokenInvalid as exc:
                return f"token-invalid\x1f{exc}"
            return None

        refused = await anyio.to_thread.run_sync(check)
        if refused is None:
            return None
        kind, _, detail = refused.partition("\x1f")
        return kind, detail

    @staticmethod
    async def _refuse(
        request: Request,
        is_api: bool,
        status: int,
        kind: str,
        detail: str,
        scope: AsgiScope,
        send: Send,
    ) -> None:
        headers = {"Connection": "close"}
        if status == 401:
            headers.update(_CHALLENGE)
        response: Any = (
            problem_response(request, status, kind, detail, headers=headers)
            if is_api
            else PlainTextResponse(detail, status_code=status, headers=headers)
        )

        async def nothing() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)
