"""Jinja2 rendering with the locale's words and formats available in every template."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from arrears.web import i18n

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def data_marked(text: str, names: Iterable[str | None]) -> Markup:
    """`text` (escaped) with each of `names` — personal names inside a script or sentence —
    marked as data (<bdi data-i18n-ignore>): shown as written, in whatever language they are."""
    wanted = sorted({n for n in names if n and n.strip()}, key=len, reverse=True)
    if not wanted:
        return Markup(escape(text))
    pattern = re.compile("|".join(re.escape(n) for n in wanted))
    out, last = [], 0
    for found in pattern.finditer(text):
        out.append(escape(text[last : found.start()]))
        out.append(Markup("<bdi data-i18n-ignore>%s</bdi>") % found.group(0))
        last = found.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def render(
    request: Request, name: str, lang: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    def t(key: str) -> str:
        return i18n.word(lang, key)

    def money(minor: int, currency: str) -> str:
        return i18n.fmt_minor(minor, currency, lang)

    # the lender's clock, from the app's settings (times of day are shown in it)
    app = getattr(getattr(request.app.state, "ctx", None), "app", None)
    zone = i18n.display_zone(getattr(getattr(app, "settings", None), "timezone", None)).key

    def day(value: Any) -> str:
        return i18n.fmt_date(value, lang, zone)

    def num(value: Any) -> str:
        return i18n.fmt_number(value, lang)

    def code(kind: str, value: Any) -> str:
        return i18n.code(lang, kind, value)

    def rule_text(rule_id: str | None, params: Any = None) -> str:
        return i18n.rule_reason(lang, rule_id, params)

    def why(verdict: Any) -> str:
        """A compliance verdict's reason in words (its rule id and parameters)."""
        return i18n.rule_reason(
            lang, getattr(verdict, "rule_id", None), getattr(verdict, "params", None)
        )

    context.update(
        request=request,
        lang=lang,
        t=t,
        money=money,
        day=day,
        num=num,
    )
    # helpers a page's own context may shadow
    context.setdefault("code", code)
    context.setdefault("rule_text", rule_text)
    context.setdefault("rule_short", lambda rule_id: i18n.rule_name(lang, rule_id))
    context.setdefault("why", why)
    context.setdefault("zone", zone)
    context.setdefault("zone_label", i18n.code(lang, "zone", zone))
    context.setdefault("msg", lambda text: i18n.message(lang, text))
    context.setdefault("data_marked", data_marked)
    context.setdefault("approval", lambda reasons: i18n.approval_reasons(lang, list(reasons)))
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
