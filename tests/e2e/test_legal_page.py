"""The legal team's page in a real browser, in Chinese and in English: the legal team's lead
(lead2) and agent (agent3) and the manager see the cases the nightly run referred, make the
demand letter (the rule pack allows a letter at 10:00 Shanghai time) and download it as PDF,
move a case along its path (an illegal move is not offered; a refused one says why in the
page's language), refer a case by hand; an agent of another team is refused the page. Every
page in one language, nothing spilling; screenshots in test-artifacts/e2e/legal/."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.compliance.batch import gate_planned_actions
from arrears.engine.run_day import run_day
from arrears.services import legal
from arrears.services.users import seed_demo_users
from arrears.store import tables as t
from tests import factories as f
from tests.e2e.conftest import ARTIFACTS, Served, save_screenshot, serve
from tests.e2e.crawl import OVERFLOW, PAGE_TEXT, sign_in
from tests.e2e.test_language_crawl import untranslated

pytestmark = [pytest.mark.browser]

DAY = date(2026, 11, 30)
NOW = datetime.combine(DAY, time(2, 0), tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def site(wired: App) -> Iterator[tuple[Served, dict[str, int]]]:
    from argon2 import PasswordHasher

    from arrears.services import auth

    before = auth._hasher
    auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    app = wired
    app.keyring = f.RING  # type: ignore[misc]
    with app.engine.begin() as conn:
        seed_demo_users(conn)
        for bid, name, lang, late, amount in (
            ("B1", "王建国", "zh-CN", 120, 500_000),
            ("B2", "Alice Smith", "en", 125, 300_000),
            ("B3", "李小红", "zh-CN", 95, 200_000),
        ):
            f.borrower(
                conn,
                bid,
                phone=f"+86138000000{bid[1:]}0",
                name=name,
                language=lang,
                address_enc=f.RING.encrypt("上海市浦东新区世纪大道100号"),
            )
            f.account(conn, f"A{bid}", bid, [(DAY - timedelta(days=late), amount, 0)])
        legal.add_rule(
            conn,
            min_dpd=120,
            currency="CNY",
            min_balance="1000",
            by="manager",
            at=NOW,
            ring=f.RING,
        )
    run_day(app.engine, DAY, gate=gate_planned_actions)
    with app.engine.connect() as conn:
        cases = {c.borrower_id: c.case_id for c in legal.list_cases(conn)}
    with app.engine.connect() as conn:
        cases["B3"] = int(
            conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == "B3")) or 0
        )
    try:
        for served in serve(app, business_date=DAY, clock=lambda: NOW):
            yield served, cases
    finally:
        auth.use_hasher(before)


def _look(page: Any, lang: str, name: str) -> list[str]:
    save_screenshot(page, ARTIFACTS / "legal" / f"{name}-{lang}.png")
    return untranslated(page.evaluate(PAGE_TEXT), lang) + page.evaluate(OVERFLOW)


def test_the_legal_team_works_its_queue_in_both_languages(
    site: tuple[Served, dict[str, int]], chromium: Any
) -> None:
    served, cases = site
    base = served.base
    b1, b2, b3 = cases["B1"], cases["B2"], cases["B3"]
    problems: dict[str, list[str]] = {}

    # the legal team's lead, in Chinese: the queue, the letter, a move
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, base, "lead2", "zh")
    page.click("nav >> text=法务案件")
    assert page.url.endswith("/legal")
    rows = page.locator("[data-testid^=legal-case-]")
    assert rows.count() == 2  # B3 is at DPD 95
    assert page.locator(f"[data-testid=legal-case-{b1}]").get_attribute("data-status") == "referred"
    assert "已转入" in page.locator(f"[data-testid=legal-case-{b1}]").inner_text()
    assert "每日批处理（规则 1）" in page.locator(f"[data-testid=legal-case-{b1}]").inner_text()
    problems["lead2-legal-zh"] = _look(page, "zh", "lead2-queue")
    page.click(f"[data-testid=legal-letter-{b1}]")
    page.wait_for_load_state()
    row = page.locator(f"[data-testid=legal-case-{b1}]")
    assert row.get_attribute("data-status") == "demand_letter_sent"
    assert "已发催告函" in page.locator("[data-testid=legal-history]").inner_text()
    problems["lead2-history-zh"] = _look(page, "zh", "lead2-history")
    link = row.locator("a[data-testid^=legal-doc-]")
    with page.expect_download() as download:
        link.click()
    pdf = download.value.path().read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "王建国" in text and "¥5,000.00" in text and "2026年12月14日" in text
    (ARTIFACTS / "legal" / "demand-letter-zh.pdf").write_bytes(pdf)
    options = row.locator("select[name=to] option").all_inner_texts()
    assert options == ["已起诉", "已结案", "已撤回"]  # no enforcement before a judgment
    row.locator("select[name=to]").select_option("filed")
    row.locator("button", has_text="变更状态").click()
    page.wait_for_load_state()
    assert page.locator(f"[data-testid=legal-case-{b1}]").get_attribute("data-status") == "filed"
    # a move no longer allowed (the form of an old page): refused in Chinese, nothing changes
    r = page.request.post(
        f"{base}/legal/{b1}/advance",
        form={"to": "enforcement", "csrf": page.locator("input[name=csrf]").first.input_value()},
    )
    assert r.status == 422 and "该法务案件在当前状态下不能进行这一步" in r.text()
    page.fill("[data-testid=legal-refer-case]", str(b3))
    page.locator("[data-testid=legal-refer-form] button").click()
    page.wait_for_load_state()
    assert page.locator(f"[data-testid=legal-case-{b3}]").get_attribute("data-status") == "referred"
    assert "人工转入" in page.locator(f"[data-testid=legal-case-{b3}]").inner_text()
    problems["lead2-after-zh"] = _look(page, "zh", "lead2-after")
    ctx.close()

    # the legal team's agent, in English: the letter for the English borrower
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, base, "agent3", "en")
    page.click("nav >> text=Legal")
    assert page.locator("[data-testid=legal-refer-form]").count() == 0  # agents do not refer
    problems["agent3-legal-en"] = _look(page, "en", "agent3-queue")
    page.click(f"[data-testid=legal-letter-{b2}]")
    page.wait_for_load_state()
    row = page.locator(f"[data-testid=legal-case-{b2}]")
    assert "Demand letter sent" in row.inner_text()
    with page.expect_download() as download:
        row.locator("a[data-testid^=legal-doc-]").click()
    pdf = download.value.path().read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Alice Smith" in text and "CN¥3,000.00" in text and "14 Dec 2026" in text
    (ARTIFACTS / "legal" / "demand-letter-en.pdf").write_bytes(pdf)
    problems["agent3-history-en"] = _look(page, "en", "agent3-history")
    ctx.close()

    # the manager, both languages; an agent of the early team is refused
    for lang in ("zh", "en"):
        ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        sign_in(page, base, "manager", lang)
        page.goto(f"{base}/legal?case={b1}")
        problems[f"manager-legal-{lang}"] = _look(page, lang, "manager")
        ctx.close()
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    sign_in(page, base, "agent", "zh")
    assert page.locator("nav a[href='/legal']").count() == 0
    assert page.goto(f"{base}/legal").status == 403
    ctx.close()

    found = {k: v for k, v in problems.items() if v}
    assert not found, found
