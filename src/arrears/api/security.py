"""Bearer integration tokens: hashed at rest, each with scopes."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from arrears.api.context import context_of
from arrears.api.problems import ProblemError
from arrears.services.auth import Integration, Scope, TokenInvalid, check_token

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
                integration = check_token(conn, credentials.credentials)
        except TokenInvalid as exc:
            raise ProblemError(401, "token-invalid", str(exc), headers=_CHALLENGE) from None
        if scope not in integration.scopes:
            raise ProblemError(
                403,
                "scope-missing",
                f"this token lacks the scope {scope}; ask an admin for a token with it",
            )
        return integration

    return dependency
