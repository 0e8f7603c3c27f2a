"""The seed's day one, at the workbench: the borrower cannot be reached, a contact is, a plan is
agreed beyond the agent's limit and a team lead approves it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.store import tables as t
from tests.integration.web.conftest import csrf_of, sign_in

AMOUNT = re.compile(r"(¥|CNY)\s?[0-9]|[0-9],?[0-9]*\.[0-9]{2}")


def _call_link(html: str, target: str) -> str:
    m = re.search(rf'href="(/cases/\d+/call/\d+)" data-testid="call-{target}"', html)
    assert m, f"no allowed call to a {target} on the page"
    return m.group(1)


def test_day_one_at_the_workbench(web: TestClient, app: App) -> None:
    csrf = sign_in(web, "agent")
    # 2 March: the agent takes the next case — the day-one call to the borrower
    r = web.post("/agent/next", data={"csrf": csrf})
    case_url = r.headers["location"]
    case_id = int(case_url.rsplit("/", 1)[1])
    page = web.get(case_url).text
    # the agent asks for the borrower and the contacts by name; numbers stay masked
    assert "王小明" in page and "138****5678" in page and "13812345678" not in page
    assert "李红" in page and "139****1111" in page and "13900001111" not in page
    assert "配偶" in page  # the relationship in words
    # the borrower does not answer
    call = web.get(_call_link(page, "borrower")).text
    assert "待还" in call and "王小明" in call  # the arrears, to the borrower asked for by name
    action_id = re.search(r'name="action_id" value="(\d+)"', call).group(1)  # type: ignore[union-attr]
    r = web.post(
        f"/cases/{case_id}/outcome",
        data={"csrf": csrf, "action_id": action_id, "outcome": "no_answer"},
    )
    assert r.status_code == 303, r.text
    # the borrower is unreachable: calls to each consenting contact appear; no amount on them
    page = web.get(case_url).text
    contact_call = web.get(_call_link(page, "contact"))
    assert contact_call.status_code == 200
    assert not AMOUNT.search(contact_call.text), "the contact call page shows an amount"
    assert "400-000-0000" in contact_call.text  # the call-back number, nothing of the debt
    action_id = re.search(r'name="action_id" value="(\d+)"', contact_call.text).group(1)  # type: ignore[union-attr]
    r = web.post(
        f"/cases/{case_id}/outcome",
        data={
            "csrf": csrf,
            "action_id": action_id,
            "outcome": "contact_reached",
            "hardship": "illness",
            "note": "住院中，正在找新工作",
        },
    )
    assert r.status_code == 303
    # a live preview, then the plan: three instalments, beyond the agent's limit of two
    preview = web.post(
        f"/cases/{case_id}/plan/preview",
        data={"instalments": "3", "first_due_on": "2026-03-15"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "needs-approval" in preview.text and "3期，超过您的上限2期" in preview.text
    r = web.post(
        f"/cases/{case_id}/plan",
        data={"csrf": csrf, "instalments": "3", "first_due_on": "2026-03-15"},
    )
    assert r.headers["location"].endswith("done=plan_proposed")
    with app.engine.connect() as conn:
        plan = conn.execute(select(t.plans).where(t.plans.c.case_id == case_id)).one()
        case = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).one()
    assert plan.status == "proposed" and plan.instalments == 3
    assert case.hardship == "illness" and case.unreachable_on is not None
    # the team lead approves
    web.cookies.clear()
    csrf = sign_in(web, "lead")
    floor = web.get("/lead").text
    assert f'data-testid="approval-{plan.id}"' in floor
    r = web.post(f"/lead/plans/{plan.id}/approve", data={"csrf": csrf})
    assert r.status_code == 303
    with app.engine.connect() as conn:
        status = conn.scalar(select(t.plans.c.status).where(t.plans.c.id == plan.id))
    assert status == "active"


def test_a_form_without_the_csrf_token_changes_nothing(web: TestClient, app: App) -> None:
    sign_in(web, "agent")
    r = web.post("/agent/next", data={"csrf": "forged"})
    assert r.status_code == 403
    with app.engine.connect() as conn:
        assert (
            conn.scalar(select(t.cases.c.assigned_to).where(t.cases.c.borrower_id == "B1")) is None
        )


def test_pages_speak_the_chosen_language(web: TestClient) -> None:
    sign_in(web, "agent")
    assert "下一个案件" in web.get("/agent").text
    web.get("/lang/en")
    page = web.get("/agent").text
    assert "Next case" in page and "下一个案件" not in page


def test_login_page_has_csrf(web: TestClient) -> None:
    assert csrf_of(web.get("/login").text)


def test_a_call_the_rule_pack_forbids_is_disabled_with_reason_and_refused(
    web: TestClient, app: App
) -> None:
    from datetime import UTC, datetime

    with app.engine.begin() as conn:
        b1 = select(t.cases.c.id).where(t.cases.c.borrower_id == "B1").scalar_subquery()
        call = conn.execute(
            select(t.actions).where(t.actions.c.step == "dpd1_call", t.actions.c.case_id == b1)
        ).one()
        conn.execute(
            t.actions.update()
            .where(t.actions.c.id == call.id)
            .values(
                status="deferred",
                rule_id="cn.time_window",
                reason="outside the borrower's allowed hours",
                scheduled_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
            )
        )
    csrf = sign_in(web, "agent")
    page = web.get(f"/cases/{call.case_id}").text
    assert 'data-testid="blocked-reason"' in page
    # the rule in words; 12:00 UTC is 20:00 in the lender's zone (Asia/Shanghai)
    assert "只能在规则包允许的时段内联络" in page and "2026年3月2日 20:00" in page
    assert 'data-testid="call-borrower"' not in page
    r = web.post(
        f"/cases/{call.case_id}/outcome",
        data={"csrf": csrf, "action_id": str(call.id), "outcome": "no_answer"},
    )
    assert r.status_code == 403
    with app.engine.connect() as conn:
        assert conn.scalar(select(t.interactions.c.id)) is None


def test_the_call_screen_asks_the_rule_pack_at_the_moment_of_the_call(app: App) -> None:
    """At 22:30 in Shanghai the cn rule pack allows no collection call: the screen refuses."""
    from datetime import UTC, datetime

    from arrears.web.app import create_app
    from tests.integration.web.conftest import DAY1

    night = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    web = TestClient(
        create_app(app, business_date=DAY1, clock=lambda: night),
        base_url="https://testserver",
        follow_redirects=False,
    )
    sign_in(web, "agent")
    with app.engine.connect() as conn:
        b1 = select(t.cases.c.id).where(t.cases.c.borrower_id == "B1").scalar_subquery()
        call = conn.execute(
            select(t.actions).where(t.actions.c.step == "dpd1_call", t.actions.c.case_id == b1)
        ).one()
    r = web.get(f"/cases/{call.case_id}/call/{call.id}")
    assert r.status_code == 403 and "规则包" in r.text
