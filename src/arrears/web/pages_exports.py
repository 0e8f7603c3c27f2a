"""The exports page (team lead, manager, compliance, strategist — each sees the exports its
role may run): every export with its CSV and XLSX download for a business date or a period.
A download is written whole before it is sent (an export refused or failed sends nothing),
masked as the viewer's role sees personal data, and recorded in the audit log
(docs/exports.md)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from typing import IO, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from arrears.api.context import context_of
from arrears.services import exports as ex
from arrears.web.pages_lead import scope_of
from arrears.web.render import render
from arrears.web.session import PageForbidden, PageNotFound, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)
CHUNK = 256 * 1024
MEDIA = {
    ex.ExportFormat.CSV: "text/csv; charset=utf-8",
    ex.ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
DateQuery = Annotated[date | None, Query()]
FromQuery = Annotated[date | None, Query(alias="from")]


class PeriodRefused(Exception):
    pass


def _allowed(viewer: Viewer) -> list[ex.ExportDef]:
    found = ex.allowed(viewer.user.role)
    if not found:
        raise PageForbidden("error.role_may_not")
    return found


@router.get("/exports", response_class=HTMLResponse)
def exports_page(
    request: Request, viewer: ViewerDep, as_of: DateQuery = None, start: FromQuery = None
) -> Response:
    exports = _allowed(viewer)
    ctx = context_of(request)
    with ctx.begin() as conn:
        today = ctx.today(conn)
    last = as_of or today
    first = start if start is not None and start <= last else last
    return render(
        request,
        "exports.html",
        viewer.lang,
        viewer=viewer,
        today=today,
        as_of=last,
        first=first,
        exports=exports,
        formats=list(ex.ExportFormat),
        clear=ex.sees_personal_data(viewer.user.role),
        period_invalid=start is not None and start > last,
    )


@router.get("/exports/{kind}.{fmt}")
def export_download(
    request: Request,
    viewer: ViewerDep,
    kind: str,
    fmt: str,
    as_of: DateQuery = None,
    start: FromQuery = None,
) -> Response:
    _allowed(viewer)
    try:
        kind_, fmt_ = ex.parse_kind(kind), ex.parse_format(fmt)
    except (ex.ExportKindUnknown, ex.ExportFormatUnknown):
        raise PageNotFound("error.detail_404") from None
    ctx = context_of(request)
    with ctx.begin() as conn:
        day = as_of or ctx.today(conn)
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    try:
        done = ex.run_export(
            ctx.engine,
            ctx.app.keyring,
            kind=kind_,
            fmt=fmt_,
            as_of=day,
            start=start,
            actor=viewer.user.username,
            role=viewer.user.role,
            scope=scope_of(viewer),
            out=out,
            at=ctx.now(),
        )
    except ex.ExportRefused:
        out.close()
        raise PageForbidden("error.role_may_not") from None
    except ex.ExportPeriodInvalid:
        out.close()
        raise PageNotFound("exports.period_invalid") from None
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return StreamingResponse(
        _chunks(out),
        media_type=MEDIA[fmt_],
        headers={
            "Content-Disposition": f'attachment; filename="{done.filename}"',
            "Cache-Control": "no-store",
        },
    )


def _chunks(out: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := out.read(CHUNK):
            yield chunk
    finally:
        out.close()
