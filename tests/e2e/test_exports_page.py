"""The exports page in a real browser (headless Chromium): a manager and a team lead, in
Chinese and English; the table stays inside its card, a click on a link downloads the file
and the file is masked. Screenshots in test-artifacts/e2e/exports-<role>-<lang>.png."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from arrears.privacy.keyring import KeyRing
from tests.e2e.conftest import Served, serve, shot
from tests.e2e.crawl import sign_in
from tests.integration.api.conftest import make_app
from tests.integration.web.conftest import DAY1, NOW, portfolio

OVERFLOW = """() => [...document.querySelectorAll('.card')].filter(
  c => c.scrollWidth > c.clientWidth + 1).length"""


@pytest.fixture
def site(db: Engine, keyring: KeyRing, tmp_path: Path) -> Iterator[Served]:
    app = make_app(db, keyring, tmp_path)
    portfolio(app)
    yield from serve(app, business_date=DAY1, clock=lambda: NOW)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("user", ["manager", "lead"])
def test_the_exports_page_in_the_browser(site: Served, chromium: Any, user: str, lang: str) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    try:
        sign_in(page, site.base, user, lang)
        page.goto(f"{site.base}/exports")
        page.wait_for_load_state()
        shot(page, f"exports-{user}-{lang}")
        assert page.evaluate("() => document.documentElement.lang") == (
            "zh-CN" if lang == "zh" else "en"
        )
        assert page.evaluate(OVERFLOW) == 0
        title = page.locator("h1").inner_text()
        assert ("数据导出" if lang == "zh" else "Exports") in title
        with page.expect_download() as info:
            page.click('[data-testid="download-cases-xlsx"]')
        download = info.value
        assert download.suggested_filename == "arrears-cases-2026-03-02.xlsx"
        data = Path(download.path()).read_bytes()
        rows = list(load_workbook(io.BytesIO(data), read_only=True)["cases"].values)
        # the heading and the open cases: both for a manager, the team's one for its lead
        assert len(rows) == (3 if user == "manager" else 2)
        assert not any("王小明" in str(c) or "13812345678" in str(c) for r in rows for c in r)
    finally:
        context.close()
