"""One source for every call script: what the agent's page shows is, byte for byte, the packaged
call template rendered with the case's values and passed by the rule pack's content check; the
contact's script discloses nothing of the debt — on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.compliance.rules.content import check_contact_template
from arrears.compliance.scripts import CallScriptDiscloses, call_script, review_call_script
from arrears.compliance.templates import TemplateBook, packaged_templates
from arrears.store import tables as t
from tests.integration.web.conftest import sign_in

SCRIPT = re.compile(r'<div class="script" data-testid="script-text">(.*?)</div>', re.S)
AMOUNT = re.compile(r"(¥|CNY)\s?[0-9]|[0-9],?[0-9]*\.[0-9]{2}|元")


def _script_on(page: str) -> str:
    m = SCRIPT.search(page)
    assert m, "no script on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1)))  # names are marked as data (bdi)


def _call_link(page: str, target: str) -> tuple[str, int]:
    m = re.search(rf'href="(/cases/\d+/call/(\d+))" data-testid="call-{target}"', page)
    assert m, f"no allowed call to a {target} on the page"
    return m.group(1), int(m.group(2))


def test_the_agent_reads_exactly_what_the_content_check_passed(web: TestClient, app: App) -> None:
    csrf = sign_in(web, "agent")
    case_url = web.post("/agent/next", data={"csrf": csrf}).headers["location"]
    case_id = int(case_url.rsplit("/", 1)[1])
    link, action_id = _call_link(web.get(case_url).text, "borrower")
    shown = _script_on(web.get(link).text)
    with app.engine.connect() as conn:
        reviewed = review_call_script(
            conn,
            app.keyring,
            app.settings.lender,
            case_id=case_id,
            target="borrower",
            contact_id=None,
            lang="zh-CN",
            template="call_borrower",
        )
    assert shown == reviewed.text and reviewed.ok
    # the borrower asked for by full name; the lender named as configured, never "我司"
    assert "王小明" in shown and "示例消费金融" in shown and "我司" not in shown
    assert "400-000-0000" in shown

    # the borrower does not answer: the contact's call, and its script
    web.post(
        f"/cases/{case_id}/outcome",
        data={"csrf": csrf, "action_id": str(action_id), "outcome": "no_answer"},
    )
    link, action_id = _call_link(web.get(case_url).text, "contact")
    shown = _script_on(web.get(link).text)
    with app.engine.connect() as conn:
        contact_id = conn.scalar(select(t.actions.c.target_id).where(t.actions.c.id == action_id))
        reviewed = review_call_script(
            conn,
            app.keyring,
            app.settings.lender,
            case_id=case_id,
            target="contact",
            contact_id=contact_id,
            lang="zh-CN",
        )
        assert shown == call_script(
            conn,
            app.keyring,
            app.settings.lender,
            case_id=case_id,
            target="contact",
            contact_id=contact_id,
            lang="zh",
        )
    assert shown == reviewed.text and reviewed.ok and reviewed.template == "call_contact"
    assert check_contact_template(shown) == []  # the content check's own words: no debt
    assert not AMOUNT.search(shown) and "待还" not in shown and "王小明" not in shown
    assert "400-000-0000" in shown  # asks for a call back, and says nothing else


def test_a_contact_script_that_would_disclose_the_debt_fails_the_check(app: App) -> None:
    specs = dict(packaged_templates())
    key = ("call_contact", "call", "zh-CN")
    specs[key] = replace(specs[key], body=specs[key].body + "他的贷款已经逾期了。")
    with app.engine.connect() as conn:
        case_id = conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == "B1"))
        reviewed = review_call_script(
            conn,
            app.keyring,
            app.settings.lender,
            case_id=int(case_id or 0),
            target="contact",
            contact_id="C1",
            lang="zh-CN",
            book=TemplateBook(specs),
        )
    assert not reviewed.ok and {f.fragment for f in reviewed.findings} >= {"贷款", "逾期"}
    refusal = str(CallScriptDiscloses(reviewed.template, list(reviewed.findings)))
    assert "call_contact" in refusal and "贷款" in refusal
