"""The complaints register and the specialist's outreach in headless Chromium, in Chinese and in
English: the team lead receives a complaint through the form, the compliance officer answers and
closes it; the specialist asks for outreach by hand on a vulnerable borrower's case and reads the
gate's verdict. Every page speaks one language and nothing spills out of its card; screenshots in
test-artifacts/e2e/complaints/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.compliance.officer import set_flag
from arrears.engine.specialist import move_vulnerable
from arrears.services import auth
from arrears.services import complaints as svc
from arrears.services.users import DEMO_PASSWORD, add_team, add_user
from arrears.store import tables as t
from tests.e2e.conftest import ARTIFACTS, Served, save_screenshot, serve
from tests.e2e.crawl import OVERFLOW, PAGE_TEXT, sign_in
from tests.e2e.test_language_crawl import untranslated
from tests.integration.web.conftest import DAY1, NOW, portfolio

pytestmark = [pytest.mark.browser]

OUT = ARTIFACTS / "complaints"


@pytest.fixture
def site(wired: App, tmp_path: Path) -> Iterator[tuple[Served, int]]:
    before = auth._hasher
    auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        app = wired
        portfolio(app)
        with app.engine.begin() as conn:
            add_team(conn, "team-care", "专员关怀 Specialist care", ["specialist"])
            add_user(conn, "specialist", DEMO_PASSWORD, "agent", display_name="何静",
                     team_id="team-care")  # fmt: skip
            set_flag(conn, app.keyring, borrower_id="B1", flag="vulnerability", since=DAY1,
                     by="compliance", at=NOW)  # fmt: skip
            move_vulnerable(conn, DAY1)
            case_id = conn.execute(
                select(t.cases.c.id).where(t.cases.c.borrower_id == "B1")
            ).scalar_one()
            late = svc.receive_complaint(
                conn, app.keyring, channel="regulator", category="third_party_disclosure",
                on=date(2026, 2, 10), by="compliance", at=NOW, borrower_id="B2",
                summary="监管转办：催收员向借款人同事透露欠款情况，要求说明处理结果并道歉。",
            )  # fmt: skip
            svc.assign_complaint(conn, app.keyring, late.id, owner="compliance", by="lead", at=NOW)
            done = svc.receive_complaint(
                conn, app.keyring, channel="email", category="amount_disputed",
                on=date(2026, 2, 20), by="lead", at=NOW, borrower_id="B2",
                summary="The penalty interest looks wrong",
            )  # fmt: skip
            svc.answer_complaint(
                conn, app.keyring, done.id, response="已核对罚息计算并寄出明细。",
                outcome="partly_upheld", on=date(2026, 2, 27), by="compliance", at=NOW,
            )  # fmt: skip
        yield from ((s, case_id) for s in serve(app, business_date=DAY1, clock=lambda: NOW))
    finally:
        auth.use_hasher(before)


def _look(page: Any, lang: str, name: str, problems: list[str]) -> None:
    save_screenshot(page, OUT / f"{lang}-{name}.png")
    text = page.evaluate(PAGE_TEXT)
    problems += [f"{name}: {p}" for p in untranslated(text, lang)]
    # an identifier (a step or template id such as agent_specialist_020000) is a raw code
    problems += [f"{name}: raw {c!r}" for c in re.findall(r"\b[a-z]+_[a-z0-9_]+\b", text)]
    problems += [f"{name}: spills {p}" for p in page.evaluate(OVERFLOW)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_complaints_in_the_browser(site: tuple[Served, int], chromium: Any, lang: str) -> None:
    served, case_id = site
    base = served.base
    problems: list[str] = []
    locale = "zh-CN" if lang == "zh" else "en-GB"

    # the team lead receives a complaint by phone, pausing outreach
    context = chromium.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, base, "lead", lang)
    page.click("a[href='/complaints']")
    page.wait_for_load_state()
    _look(page, lang, "lead-register", problems)
    assert (
        page.locator("[data-testid=complaint-list] tbody tr").first.get_attribute("data-overdue")
        == "1"
    )  # the regulator's complaint of 10 Feb, unanswered: first
    page.fill("[data-testid=complaint-borrower]", "B1")
    page.select_option("[data-testid=complaint-channel]", "phone")
    page.select_option("[data-testid=complaint-category]", "contact_frequency")
    page.fill("[data-testid=complaint-summary]", "一天打了五次电话，要求暂停")
    page.check("[data-testid=complaint-pause]")
    page.click("[data-testid=complaint-submit]")
    page.wait_for_load_state()
    assert page.locator("[data-testid=flash]").count() == 1
    assert page.locator("[data-testid=paused]").count() == 1
    _look(page, lang, "lead-received", problems)
    new_url = page.url
    context.close()

    # the compliance officer answers and closes it
    context = chromium.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, base, "compliance", lang)
    page.goto(f"{base}/complaints")
    _look(page, lang, "compliance-register", problems)
    page.goto(new_url)
    _look(page, lang, "compliance-open", problems)
    page.select_option("[data-testid=answer-outcome]", "upheld")
    page.fill("[data-testid=answer-response]", "已调整为每天最多联络一次，并致歉。")
    page.click("[data-testid=answer-submit]")
    page.wait_for_load_state()
    _look(page, lang, "compliance-answered", problems)
    page.click("[data-testid=close-submit]")
    page.wait_for_load_state()
    status = page.locator("[data-testid=complaint-status]").inner_text()
    assert status == ("已结案" if lang == "zh" else "Closed")
    _look(page, lang, "compliance-closed", problems)
    context.close()

    # the specialist asks for outreach by hand on the vulnerable borrower's case
    context = chromium.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, base, "specialist", lang)
    page.goto(f"{base}/cases/{case_id}")
    _look(page, lang, "specialist-case", problems)
    page.select_option("[data-testid=outreach-channel]", "call")
    page.select_option("[data-testid=outreach-target]", "contact:C1")
    page.click("[data-testid=outreach-submit]")
    page.wait_for_load_state()
    refused = page.locator("[data-testid=call-refused]").inner_text()
    assert refused.startswith("不允许：" if lang == "zh" else "Not allowed: "), refused
    assert not re.search(r"\b(cn|us|uk)\.", refused)
    _look(page, lang, "specialist-refused", problems)
    page.select_option("[data-testid=outreach-channel]", "call")
    page.click("[data-testid=outreach-submit]")
    page.wait_for_load_state()
    assert page.locator("[data-testid=flash]").get_attribute("data-done") == "outreach_allowed"
    _look(page, lang, "specialist-allowed", problems)
    context.close()
    assert not problems, "\n".join(problems)
