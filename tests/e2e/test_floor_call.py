"""An agent's calls in a real browser, dialled for real: headless Chromium on the case page,
baresip as the agent's softphone and sipp as the phones. The borrower does not answer (the
outcome fills itself in), the contact answers and talks for 20 seconds, the agent records
hardship (illness) in two clicks and proposes a plan beyond their limit, Next case brings a
different case, the team lead plays the call's recording and approves, and the borrower's page
shows the plan. No page, script or JSON the agent's browser received holds a full number."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.config import Settings
from arrears.privacy.keyring import KeyRing
from arrears.privacy.links import make_token
from arrears.store import migrate
from arrears.store import tables as t
from arrears.store.db import make_engine
from tests.e2e.conftest import Served, serve, shot
from tests.integration.web.conftest import DAY1, NOW, add_borrower, portfolio
from tests.telephony_fixtures import SipExchange, sip_exchange  # noqa: F401

pytestmark = pytest.mark.browser

BORROWER = "+8613812345678"
CONTACT = "+8613900001111"
OTHER_CONTACT = "+8613700002222"
THIRD = "+8613500003333"
FULL = [n.removeprefix("+86") for n in (BORROWER, CONTACT, OTHER_CONTACT, THIRD)]
TALK_MS = 20_000


@pytest.fixture
def floor(tmp_path: Path, sip_exchange: SipExchange) -> Iterator[Served]:  # noqa: F811
    from argon2 import PasswordHasher

    from arrears.services import auth

    engine = make_engine(f"sqlite:///{tmp_path / 'arrears.db'}")
    migrate.upgrade(engine)
    app = App(
        Settings(
            database_url=str(engine.url),
            outbox_dir=tmp_path / "outbox",
            recordings_dir=sip_exchange.recordings.root,
            ring_timeout_seconds=4.0,
        )
    )
    app.engine = engine  # type: ignore[misc]
    app.keyring = KeyRing.generate()  # type: ignore[misc]
    # the dialler's configuration: the borrower's number rings out, the contact's answers and
    # talks for 20 s, the other contact's is busy
    sip_exchange.route(BORROWER, "no_answer")
    sip_exchange.route(CONTACT, "answer", hold_ms=TALK_MS)
    sip_exchange.route(OTHER_CONTACT, "busy")
    app.__dict__["dialer"] = sip_exchange.dialer
    app.__dict__["recordings"] = sip_exchange.recordings
    before = auth._hasher
    auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    portfolio(app)
    add_borrower(app, "B3", name="张三", phone=THIRD, id_number="330101199003033333")
    app.run_day(DAY1)
    try:
        yield from serve(app, business_date=DAY1, clock=lambda: NOW)
    finally:
        auth.use_hasher(before)


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo-password")
    page.click("button[type=submit]")


def recorded_context(browser: Any, seen: list[tuple[str, str]]) -> Any:
    """A browser context that keeps the text of everything the server sends it."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})

    def keep(route: Any) -> None:
        response = route.fetch(max_redirects=0)
        body = response.body()
        seen.append((route.request.url, body.decode("utf-8", errors="replace")))
        route.fulfill(response=response, body=body)

    context.route("**/*", keep)
    return context


def test_an_agent_s_day_on_the_phone(floor: Served, chromium: Any) -> None:
    base = floor.base
    seen: list[tuple[str, str]] = []
    agent = recorded_context(chromium, seen).new_page()
    agent.set_default_timeout(60_000)
    sign_in(agent, base, "agent")
    agent.wait_for_url(f"{base}/agent")

    # the next case, and why it is the one now
    agent.click("[data-testid=next-case]")
    agent.wait_for_url(re.compile(r"/cases/\d+$"))
    case_id = int(agent.url.rsplit("/", 1)[1])
    assert "王小明" in agent.inner_text("[data-testid=party-borrower]")  # asked for by name
    assert agent.locator("[data-testid=why-now]").count() == 1
    shot(agent, "floor-01-case")

    # Call: the borrower's phone rings out; the outcome is filled in from the call
    agent.click("[data-testid=dial-borrower]")
    agent.wait_for_url(re.compile(r"\?call=\d+"))
    agent.wait_for_selector("[data-testid=call-state][data-state=ended]")
    state = agent.locator("[data-testid=call-state]")
    assert state.get_attribute("data-outcome") == "no_answer"
    assert "无人接听" in agent.inner_text("[data-testid=timeline]")
    shot(agent, "floor-02-no-answer")

    # the borrower is unreachable: the contact's call, answered, 20 seconds of talk
    wrap = agent.locator("[data-testid=wrapup]")
    assert "李红" in wrap.inner_text()  # the wrap-up is for the contact now, by name
    assert not re.search(r"¥\s?[0-9]", agent.inner_text("[data-testid=script-text]"))
    agent.click("[data-testid=dial-contact-C1]")
    agent.wait_for_url(re.compile(r"\?call=\d+"))
    agent.wait_for_selector(
        "[data-testid=call-state][data-state=answered], [data-testid=call-state][data-state=ended]"
    )
    shot(agent, "floor-03-on-the-call")
    agent.wait_for_selector("[data-testid=call-state][data-state=ended]")
    assert state.get_attribute("data-outcome") == "answered"
    assert re.search(r"0:(19|20|21)\b", state.inner_text()), "the talk time is not the 20 s"
    assert agent.locator("[data-testid=call-recorded]").count() == 1
    call_id = int(re.search(r"call=(\d+)", agent.url).group(1))  # type: ignore[union-attr]

    # hardship (illness) in two clicks from the case page
    agent.click("[data-testid=wrap-hardship]")
    agent.click("[data-testid=wrap-hardship-illness]")
    agent.wait_for_url(re.compile(r"done=outcome"))
    timeline = agent.inner_text("[data-testid=timeline]")
    assert "联系人已接通" in timeline and "疾病" in timeline
    assert agent.locator("[data-testid=tl-recording]").count() == 1
    shot(agent, "floor-04-hardship")

    # a plan of three instalments: beyond the agent's two, so the team lead decides
    agent.fill("[data-testid=plan-instalments]", "3")
    agent.wait_for_selector("[data-testid=needs-approval]")
    agent.click("[data-testid=plan-submit]")
    agent.wait_for_url(re.compile(r"done=plan_proposed"))
    assert agent.get_attribute("[data-testid=plan-status]", "data-status") == "proposed"
    shot(agent, "floor-05-plan-proposed")

    # Next case: a different one; the case whose plan is proposed does not come back
    agent.click("[data-testid=next-case]")
    agent.wait_for_url(re.compile(r"/cases/\d+"))
    assert int(re.search(r"/cases/(\d+)", agent.url).group(1)) != case_id  # type: ignore[union-attr]
    shot(agent, "floor-06-next-case")

    # the team lead plays the recording and approves
    with floor.app.engine.connect() as conn:
        plan_id = conn.scalar(select(t.plans.c.id).where(t.plans.c.case_id == case_id))
    lead = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    lead.set_default_timeout(30_000)
    sign_in(lead, base, "lead")
    lead.wait_for_url(f"{base}/lead")
    player = lead.locator(f"[data-testid=player-{call_id}]")
    src = player.get_attribute("src")
    assert src
    audio = lead.request.get(f"{base}{src}")
    assert audio.status == 200 and audio.body()[:4] == b"RIFF"
    shot(lead, "floor-07-lead")
    lead.click(f"[data-testid=approve-{plan_id}]")
    lead.wait_for_url(re.compile(r"done=approved"))
    with floor.app.engine.connect() as conn:
        assert conn.scalar(select(t.plans.c.status).where(t.plans.c.id == plan_id)) == "active"

    # the agent is told
    agent.goto(f"{base}/agent")
    assert agent.locator(f"[data-testid=decision-{plan_id}]").count() == 1

    # the borrower's page shows the plan
    token = make_token(floor.app.keyring, case_id, DAY1.replace(day=16))
    borrower = chromium.new_context(locale="zh-CN").new_page()
    borrower.goto(f"{base}/b/{token}")
    borrower.click("[data-testid=send-code]")
    borrower.wait_for_selector("[data-testid=code-sent]")
    code = re.search(r"\d{6}", floor.sms[-1][1]).group(0)  # type: ignore[union-attr]
    borrower.fill("[data-testid=code]", code)
    borrower.click("[data-testid=verify]")
    borrower.wait_for_selector("[data-testid=your-plan]")
    assert borrower.locator("[data-testid=instalment]").count() == 3
    shot(borrower, "floor-08-borrower-plan")

    # nothing the agent's browser received holds a full number
    assert any("/calls/" in url for url, _ in seen), "the call's progress was never asked"
    for url, body in seen:
        for number in FULL:
            assert number not in body, f"{url} sent the full number {number}"


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


def test_the_wrap_up_by_keyboard(served: Served, chromium: Any) -> None:
    """n takes the next case; a digit records the outcome it shows; h then a digit records
    hardship with its kind — the agent's hands stay on the keyboard."""
    base = served.base
    agent = chromium.new_context(locale="zh-CN").new_page()
    sign_in(agent, base, "agent")
    agent.wait_for_url(f"{base}/agent")
    agent.keyboard.press("n")
    agent.wait_for_url(re.compile(r"/cases/\d+$"))
    case_id = int(agent.url.rsplit("/", 1)[1])
    digit = agent.locator("[data-testid=wrap-no_answer] kbd").inner_text()
    agent.keyboard.press(digit)
    agent.wait_for_url(re.compile(r"done=outcome"))
    assert "李红" in agent.inner_text("[data-testid=wrapup]")  # now the contact's call
    agent.keyboard.press("h")
    agent.locator("[data-testid=wrap-hardship-illness]").wait_for(state="visible")
    with agent.expect_navigation():
        agent.keyboard.press(agent.locator("[data-testid=wrap-hardship-illness] kbd").inner_text())
    with served.app.engine.connect() as conn:
        rows = conn.execute(
            select(
                t.interactions.c.target_type, t.interactions.c.outcome, t.interactions.c.hardship
            )
            .where(t.interactions.c.case_id == case_id)
            .order_by(t.interactions.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("borrower", "no_answer", None),
        ("contact", "contact_reached", "illness"),
    ]
