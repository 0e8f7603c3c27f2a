"""The seed's case study in a real browser, day one: the borrower cannot be reached; a contact
is, and says the borrower is ill; the agent proposes three instalments, beyond their limit; the
team lead approves; the borrower opens the link from the SMS, proves who they are with a
one-time code and sees the plan. Screenshots of every page go to test-artifacts/e2e/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.privacy.links import make_token
from arrears.store import tables as t
from tests.e2e.conftest import Served, serve, shot
from tests.integration.web.conftest import DAY1, NOW, portfolio

pytestmark = pytest.mark.browser

AMOUNT = re.compile(r"(¥|CNY)\s?[0-9]|[0-9]\.[0-9]{2}\b")


@pytest.fixture
def served(wired: App) -> Iterator[Served]:
    from argon2 import PasswordHasher

    from arrears.services import auth

    before = auth._hasher
    auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    portfolio(wired)
    try:
        yield from serve(wired, business_date=DAY1, clock=lambda: NOW)
    finally:
        auth.use_hasher(before)


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo-password")
    page.click("button[type=submit]")


def test_day_one_agent_lead_and_borrower(served: Served, chromium: Any) -> None:
    base = served.base
    agent = chromium.new_context(locale="zh-CN").new_page()
    sign_in(agent, base, "agent")
    agent.wait_for_url(f"{base}/agent")
    shot(agent, "01-agent-queue")

    # next case: the day-one call to the borrower
    agent.click("[data-testid=next-case]")
    agent.wait_for_url(re.compile(r"/cases/\d+$"))
    case_url = agent.url
    case_id = int(case_url.rsplit("/", 1)[1])
    assert "王小明" in agent.inner_text("[data-testid=borrower-name]")  # asked for by name
    assert "13812345678" not in agent.content()
    shot(agent, "02-case")

    agent.click("[data-testid=call-borrower]")
    shot(agent, "03-call-borrower")
    agent.check("[data-testid=outcome-no_answer]")
    agent.click("[data-testid=outcome-submit]")
    agent.wait_for_url(re.compile(r"done=outcome"))

    # the borrower is unreachable: a call to a contact, with a script that discloses nothing
    agent.locator("[data-testid=call-contact]").first.click()
    agent.wait_for_selector("[data-testid=script-panel]")
    script = agent.inner_text("[data-testid=script-panel]")
    assert not AMOUNT.search(script), f"the contact script shows an amount: {script}"
    assert not AMOUNT.search(agent.inner_text("main")), "the contact call page shows an amount"
    shot(agent, "04-call-contact-script")
    agent.check("[data-testid=outcome-contact_reached]")
    agent.select_option("[data-testid=hardship]", "illness")
    agent.fill("[data-testid=note]", "借款人住院，正在找新工作，愿意分期还款")
    agent.click("[data-testid=outcome-submit]")
    agent.wait_for_url(re.compile(r"done=outcome"))

    # three instalments: the live calculator says a team lead must approve
    agent.fill("[data-testid=plan-instalments]", "3")
    agent.fill("[data-testid=plan-first-due]", "2026-03-15")
    # (the strict content security policy forbids evaluated scripts: wait on the DOM instead)
    agent.locator("[data-testid=plan-preview]").filter(has_text="3月15日").wait_for()
    agent.wait_for_selector("[data-testid=needs-approval]")
    assert agent.locator("[data-testid=plan-rows] tbody tr").count() == 3
    shot(agent, "05-plan-calculator")
    agent.click("[data-testid=plan-submit]")
    agent.wait_for_url(re.compile(r"done=plan_proposed"))
    assert agent.get_attribute("[data-testid=plan-status]", "data-status") == "proposed"
    shot(agent, "06-plan-proposed")

    # the team lead approves it
    lead = chromium.new_context(locale="zh-CN").new_page()
    sign_in(lead, base, "lead")
    lead.wait_for_url(f"{base}/lead")
    with served.app.engine.connect() as conn:
        plan_id = conn.scalar(select(t.plans.c.id).where(t.plans.c.case_id == case_id))
    shot(lead, "07-lead-floor")
    lead.click(f"[data-testid=approve-{plan_id}]")
    lead.wait_for_url(re.compile(r"done=approved"))
    shot(lead, "08-lead-approved")
    with served.app.engine.connect() as conn:
        assert conn.scalar(select(t.plans.c.status).where(t.plans.c.id == plan_id)) == "active"

    # the borrower opens the SMS link, asks for a code, and sees the plan
    token = make_token(served.app.keyring, case_id, DAY1.replace(day=16))
    borrower = chromium.new_context(locale="zh-CN").new_page()
    borrower.goto(f"{base}/b/{token}")
    assert "your-plan" not in borrower.content()
    shot(borrower, "09-borrower-verify")
    borrower.click("[data-testid=send-code]")
    borrower.wait_for_selector("[data-testid=code-sent]")
    phone, text = served.sms[-1]
    assert phone == "+8613812345678"
    code = re.search(r"\d{6}", text).group(0)  # type: ignore[union-attr]
    borrower.fill("[data-testid=code]", code)
    borrower.click("[data-testid=verify]")
    borrower.wait_for_selector("[data-testid=your-plan]")
    assert borrower.locator("[data-testid=instalment]").count() == 3
    shot(borrower, "10-borrower-plan")

    # the other pages of the day, for the record
    for user, path, name in (
        ("manager", "/manager", "11-manager"),
        ("compliance", "/compliance", "12-compliance"),
        ("admin", "/admin/users", "13-admin-users"),
    ):
        page = chromium.new_context(locale="en-GB").new_page()
        sign_in(page, base, user)
        page.wait_for_url(f"{base}{path}")
        shot(page, name)
