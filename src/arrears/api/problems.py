"""Errors as RFC 9457 problem details (application/problem+json), with the fields at fault."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://arrears.dev/problems/"
PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
}


class FieldError(BaseModel):
    field: str = Field(description="JSON pointer-like path of the field at fault, e.g. body.amount")
    detail: str


class Problem(BaseModel):
    type: str = Field(description="URI identifying the kind of problem")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ProblemError(Exception):
    """Raised by endpoints and services at the API edge; rendered as problem details."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


def field_error(field: str, detail: str, status: int = 422) -> ProblemError:
    return ProblemError(
        status,
        "invalid-field",
        f"{field}: {detail}",
        errors=[FieldError(field=field, detail=detail)],
    )


def problem_response(
    request: Request,
    status: int,
    kind: str,
    detail: str | None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=PROBLEM_BASE + kind,
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors or [],
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


async def on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(request, exc.status, exc.kind, exc.detail, exc.errors, exc.headers)


async def on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=_loc(e.get("loc", ())), detail=str(e.get("msg"))) for e in exc.errors()
    ]
    detail = "; ".join(f"{e.field}: {e.detail}" for e in errors[:3]) or "the request is invalid"
    return problem_response(request, 422, "invalid-field", detail, errors)


async def on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = {401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}
    return problem_response(
        request,
        exc.status_code,
        kind.get(exc.status_code, "http-error"),
        str(exc.detail),
        headers=getattr(exc, "headers", None),
    )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": _TITLES[code]}
    for code in (400, 401, 403, 404, 409, 422)
}


def problems_in_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Every error response of the API is documented as application/problem+json (Problem)."""
    ref = {"$ref": "#/components/schemas/Problem"}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            for code, response in responses.items():
                if code[:1] in ("4", "5"):
                    response["content"] = {PROBLEM_JSON: {"schema": ref}}
    parts = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        parts.pop(name, None)
    return schema
