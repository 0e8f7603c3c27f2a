"""Jinja2 rendering with the locale's words and formats available in every template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from arrears.web import i18n

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(
    request: Request, name: str, lang: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    def t(key: str) -> str:
        return i18n.word(lang, key)

    def money(minor: int, currency: str) -> str:
        return i18n.fmt_minor(minor, currency, lang)

    def day(value: Any) -> str:
        return i18n.fmt_date(value, lang)

    def num(value: Any) -> str:
        return i18n.fmt_number(value, lang)

    context.update(request=request, lang=lang, t=t, money=money, day=day, num=num)
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
