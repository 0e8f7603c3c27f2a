"""The agent's case page: inline wrap-up in two clicks, promises within what is owed, one check
for the plan preview and its submit, call-backs checked against the rule pack, notes, the
timeline, why each case is worked now, and a next case that never hands the same case back."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.store import tables as t
from arrears.store.tables_agent import case_notes
from tests.integration.web.conftest import DAY1, add_borrower, sign_in

FULL_NUMBERS = ("13812345678", "13900001111", "13700002222")


def _case_of(app: App, borrower: str) -> int:
    with app.engine.connect() as conn:
        return int(conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower)))


def _action(app: App, case_id: int, step: str) -> int:
    with app.engine.connect() as conn:
        return int(
            conn.scalar(
                select(t.actions.c.id).where(
                    t.actions.c.case_id == case_id, t.actions.c.step == step
                )
            )
        )


def _unreachable_then_contact_reached(web: TestClient, app: App, csrf: str, case_id: int) -> None:
    """The borrower does not answer; the first contact is reached and says the borrower is ill:
    one click for the outcome, two for hardship with its kind (the wrap-up's buttons)."""
    r = web.post(
        f"/cases/{case_id}/outcome",
        data={
            "csrf": csrf,
            "action_id": _action(app, case_id, "dpd1_call"),
            "outcome": "no_answer",
        },
    )
    assert r.status_code == 303, r.text
    page = web.get(f"/cases/{case_id}").text
    wrap = re.search(r'name="action_id" value="(\d+)"', page)
    assert wrap, "no inline wrap-up for the contact call"
    assert 'data-testid="wrap-hardship-illness"' in page
    # the second click: the hardship kind's button sends the kind alone
    r = web.post(
        f"/cases/{case_id}/outcome",
        data={"csrf": csrf, "action_id": wrap.group(1), "hardship": "illness"},
    )
    assert r.status_code == 303, r.text


def test_hardship_in_two_clicks_and_the_plan_ends_the_task(web: TestClient, app: App) -> None:
    add_borrower(app, "B3", name="张三", phone="+8613500003333", id_number="330101199003033333")
    from arrears.engine.run_day import run_day

    run_day(app.engine, DAY1)
    csrf = sign_in(web, "agent")
    first = int(web.post("/agent/next", data={"csrf": csrf}).headers["location"].rsplit("/", 1)[1])
    page = web.get(f"/cases/{first}").text
    assert 'data-testid="why-now"' in page and 'data-why="step"' in page
    assert "王小明" in page and not any(n in page for n in FULL_NUMBERS)
    _unreachable_then_contact_reached(web, app, csrf, first)
    with app.engine.connect() as conn:
        inter = conn.execute(
            select(t.interactions)
            .where(t.interactions.c.case_id == first)
            .order_by(t.interactions.c.id)
        ).all()
        other_contact_calls = conn.execute(
            select(t.actions.c.status).where(
                t.actions.c.case_id == first,
                t.actions.c.target_type == "contact",
                t.actions.c.status.in_(["planned", "deferred"]),
            )
        ).all()
    assert [(i.target_type, i.outcome, i.hardship) for i in inter] == [
        ("borrower", "no_answer", None),
        ("contact", "contact_reached", "illness"),
    ]
    assert other_contact_calls == []  # a contact was reached: the second one is not called
    page = web.get(f"/cases/{first}").text
    assert 'data-testid="task-offer_plan"' in page
    # the plan form starts within the agent's own limit (two instalments), a week ahead on a
    # business day
    assert re.search(r'name="instalments"[^>]*value="2"', page)
    first_due = date.fromisoformat(
        re.search(r'name="first_due_on" value="([0-9-]+)"', page).group(1)  # type: ignore[union-attr]
    )
    assert first_due >= DAY1 + timedelta(days=7) and first_due.weekday() < 5
    r = web.post(
        f"/cases/{first}/plan",
        data={"csrf": csrf, "instalments": "3", "first_due_on": "2026-03-16"},
    )
    assert r.headers["location"].endswith("done=plan_proposed")
    with app.engine.connect() as conn:
        offer = conn.scalar(
            select(t.actions.c.status).where(
                t.actions.c.case_id == first, t.actions.c.template == "offer_plan"
            )
        )
    assert offer == "done"
    # next case: a different case, and the case left does not come back
    second = web.post("/agent/next", data={"csrf": csrf, "from_case": str(first)})
    assert second.headers["location"] != f"/cases/{first}"
    assert second.headers["location"].startswith("/cases/")
    third = web.post("/agent/next", data={"csrf": csrf})
    assert third.headers["location"] != f"/cases/{first}"


def test_a_promise_cannot_exceed_what_is_owed_and_the_form_keeps_the_input(
    web: TestClient, app: App
) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    r = web.post(
        f"/cases/{case_id}/promise",
        data={"csrf": csrf, "amount": "99999.00", "due_on": "2026-03-10"},
    )
    assert r.status_code == 422
    owed = re.search(r'data-testid="total-overdue">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    assert f"承诺金额不能超过欠款 {owed}" in r.text
    assert 'value="99999.00"' in r.text and 'value="2026-03-10"' in r.text  # input kept
    with app.engine.connect() as conn:
        assert conn.scalar(select(t.promises.c.id)) is None
    r = web.post(
        f"/cases/{case_id}/promise",
        data={"csrf": csrf, "amount": "1045.00", "due_on": "2026-03-10"},
    )
    assert r.status_code == 303
    page = web.get(f"/cases/{case_id}").text
    assert 'data-testid="tl-promise"' in page


def test_preview_and_submit_refuse_with_the_same_words(web: TestClient, app: App) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    form = {"instalments": "3", "first_due_on": "2026-02-20"}  # before the business date
    preview = web.post(f"/cases/{case_id}/plan/preview", data=form, headers={"X-CSRF-Token": csrf})
    submit = web.post(f"/cases/{case_id}/plan", data={**form, "csrf": csrf})
    said = "首期日期须为今天或以后"
    assert said in preview.text and said in submit.text and submit.status_code == 422
    assert 'value="2026-02-20"' in submit.text  # what the agent typed is still there
    ok = web.post(
        f"/cases/{case_id}/plan/preview",
        data={"instalments": "3", "first_due_on": "2026-03-16"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "3期，超过您的上限2期" in ok.text


def test_a_call_back_outside_the_rule_pack_hours_is_refused_with_the_next_time(
    web: TestClient, app: App
) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    r = web.post(f"/cases/{case_id}/callback", data={"csrf": csrf, "at": "2026-03-02T22:30"})
    assert r.status_code == 422
    assert "不能在该时间回电" in r.text and "2026年3月3日 08:00" in r.text
    assert 'value="2026-03-02T22:30"' in r.text
    r = web.post(f"/cases/{case_id}/callback", data={"csrf": csrf, "at": "2026-03-02T15:00"})
    assert r.status_code == 303, r.text
    with app.engine.connect() as conn:
        cb = conn.execute(
            select(t.actions).where(t.actions.c.case_id == case_id, t.actions.c.step == "callback")
        ).one()
    assert cb.status == "planned" and cb.scheduled_at.hour == 7  # 15:00 in Shanghai
    queue = web.get("/agent").text
    assert 'data-why="callback"' in queue and "回电" in queue


def test_notes_and_everything_else_appear_in_the_timeline_at_once(
    web: TestClient, app: App
) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    empty = web.post(f"/cases/{case_id}/note", data={"csrf": csrf, "body": "  "})
    assert empty.status_code == 422 and "请先填写备注" in empty.text
    r = web.post(f"/cases/{case_id}/note", data={"csrf": csrf, "body": "借款人下午方便接听"})
    assert r.status_code == 303
    with app.engine.connect() as conn:
        assert conn.scalar(select(case_notes.c.body)) == "借款人下午方便接听"
        # a note is not a contact attempt: the rule pack's counters do not see it
        assert conn.scalar(select(t.interactions.c.id)) is None
    page = web.get(f"/cases/{case_id}").text
    timeline = page[page.index('data-testid="timeline"') :]
    assert "借款人下午方便接听" in timeline and 'data-testid="tl-note"' in timeline


def test_the_agent_is_told_the_team_lead_s_decision(web: TestClient, app: App) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    web.post(
        f"/cases/{case_id}/plan",
        data={"csrf": csrf, "instalments": "3", "first_due_on": "2026-03-16"},
    )
    with app.engine.connect() as conn:
        plan_id = conn.scalar(select(t.plans.c.id).where(t.plans.c.case_id == case_id))
    assert 'data-testid="plan-decisions"' not in web.get("/agent").text
    web.cookies.clear()
    lead_csrf = sign_in(web, "lead")
    r = web.post(f"/lead/plans/{plan_id}/approve", data={"csrf": lead_csrf})
    assert r.status_code == 303
    web.cookies.clear()
    sign_in(web, "agent")
    queue = web.get("/agent").text
    assert f'data-testid="decision-{plan_id}" data-status="active"' in queue
    assert "已批准" in queue


def test_call_at_night_is_refused_with_the_rule_and_the_next_allowed_time(app: App) -> None:
    """At 22:30 in Shanghai the rule pack allows no collection call: nothing dials, and the
    case page says why and from when, in the agent's language."""
    from datetime import UTC, datetime

    from arrears.store.tables_calls import calls
    from arrears.web.app import create_app

    night = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    web = TestClient(
        create_app(app, business_date=DAY1, clock=lambda: night),
        base_url="https://testserver",
        follow_redirects=False,
    )
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    r = web.post(f"/cases/{case_id}/call", data={"csrf": csrf, "target": "borrower"})
    assert r.status_code == 409
    refused = re.search(r'data-testid="call-refused">([^<]+)<', r.text)
    assert refused, "the refusal is not on the page"
    assert "规则包" in refused.group(1) and "2026年3月3日 08:00" in refused.group(1)
    assert not any(n in r.text for n in FULL_NUMBERS)
    with app.engine.connect() as conn:
        assert conn.scalar(select(calls.c.id)) is None  # nothing dialled
    web.get("/lang/en")
    r = web.post(f"/cases/{case_id}/call", data={"csrf": csrf, "target": "borrower"})
    refused = re.search(r'data-testid="call-refused">([^<]+)<', r.text)
    assert refused and "3 Mar 2026 08:00" in refused.group(1)
    assert not re.search(r"[\u4e00-\u9fff]", refused.group(1))  # no Chinese on an English page


def test_power_mode_takes_the_next_case_and_dials_it_when_the_agent_wraps_up(
    web: TestClient, app: App
) -> None:
    """Power dialling: once this case's calls are done, the wrap-up claims the next case and
    places its first allowed call (here the dialler is not set up, so the next case opens with
    the dialler's refusal and nothing else happens)."""
    from arrears.channels.telephony.factory import NoDialer
    from arrears.engine.run_day import run_day

    add_borrower(app, "B3", name="张三", phone="+8613500003333", id_number="330101199003033333")
    run_day(app.engine, DAY1)
    app.__dict__["dialer"] = NoDialer()
    csrf = sign_in(web, "agent")
    first = int(web.post("/agent/next", data={"csrf": csrf}).headers["location"].rsplit("/", 1)[1])
    r = web.post("/agent/power", data={"csrf": csrf, "on": "1", "back": f"/cases/{first}"})
    assert r.status_code == 303
    assert 'aria-pressed="true"' in web.get(f"/cases/{first}").text
    r = web.post(
        f"/cases/{first}/outcome",
        data={
            "csrf": csrf,
            "action_id": _action(app, first, "dpd1_call"),
            "outcome": "right_party",
        },
    )
    # the borrower was reached: nothing more to dial here, so the next case is taken and dialled
    assert r.status_code == 409
    assert 'data-testid="call-refused"' in r.text and "拨号失败: 外呼系统暂不可用" in r.text
    shown = int(re.search(r"<h1>[^#]*#(\d+)", r.text).group(1))  # type: ignore[union-attr]
    assert shown != first
    with app.engine.connect() as conn:
        owner = conn.scalar(select(t.cases.c.assigned_to).where(t.cases.c.id == shown))
    assert owner == "agent"
    # power mode off: a wrap-up stays on its case
    web.post("/agent/power", data={"csrf": csrf, "on": "0"})
    r = web.post(
        f"/cases/{shown}/outcome",
        data={
            "csrf": csrf,
            "action_id": _action(app, shown, "dpd1_call"),
            "outcome": "no_answer",
        },
    )
    assert r.headers["location"] == f"/cases/{shown}?done=outcome"


def test_a_call_still_on_the_line_is_not_wrapped_up(web: TestClient, app: App) -> None:
    """The network's outcome comes first: while the call runs, the wrap-up is refused and
    nothing is recorded (no second interaction beside the one the call's end records)."""
    from arrears.store.tables_calls import calls
    from tests.integration.web.conftest import NOW

    class StillRinging:  # a dialler whose call has not ended yet
        name = "ringing"

        def result(self, call_id: str) -> None:
            return None

    app.__dict__["dialer"] = StillRinging()
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    action_id = _action(app, case_id, "dpd1_call")
    with app.engine.begin() as conn:
        call_id = conn.execute(
            calls.insert()
            .values(
                call_key="k-running",
                case_id=case_id,
                action_id=action_id,
                agent="agent",
                target_type="borrower",
                target_id="B1",
                dialer="none",
                business_date=DAY1,
                started_at=NOW,
            )
            .returning(calls.c.id)
        ).scalar_one()
    page = web.get(f"/cases/{case_id}?call={call_id}").text
    assert 'data-state="ringing"' in page and f"/cases/{case_id}/calls/{call_id}" in page
    state = web.get(f"/cases/{case_id}/calls/{call_id}").json()
    assert state == {"state": "ringing", "outcome": "", "talk_seconds": 0, "recorded": False}
    r = web.post(
        f"/cases/{case_id}/outcome",
        data={"csrf": csrf, "call_id": str(call_id), "outcome": "right_party"},
    )
    assert r.status_code == 409 and "通话尚未结束" in r.text
    with app.engine.connect() as conn:
        assert conn.scalar(select(t.interactions.c.id)) is None


def test_a_call_back_brings_the_case_back_at_its_time_not_before(web: TestClient, app: App) -> None:
    from datetime import UTC, datetime

    from arrears.web.app import create_app

    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    r = web.post(
        f"/cases/{case_id}/outcome",
        data={
            "csrf": csrf,
            "action_id": _action(app, case_id, "dpd1_call"),
            "outcome": "right_party",
            "note": "在开会，下午三点再打",
        },
    )
    assert r.status_code == 303
    web.post(f"/cases/{case_id}/callback", data={"csrf": csrf, "at": "2026-03-02T15:00"})
    # 10:00: the call-back's time has not come; the case is not handed out again
    assert web.post("/agent/next", data={"csrf": csrf}).headers["location"] == "/agent?empty=1"
    later = TestClient(
        create_app(app, business_date=DAY1, clock=lambda: datetime(2026, 3, 2, 7, 30, tzinfo=UTC)),
        base_url="https://testserver",
        follow_redirects=False,
    )
    later_csrf = sign_in(later, "agent")
    r = later.post("/agent/next", data={"csrf": later_csrf})
    assert r.headers["location"] == f"/cases/{case_id}"  # 15:30 in Shanghai: call back now
    page = later.get(r.headers["location"]).text
    assert 'data-why="callback"' in page
    assert re.search(r'data-testid="wrap-right_party"', page)  # the wrap-up is for the call-back


def test_a_wrap_up_is_for_its_own_task_not_the_call_before(web: TestClient, app: App) -> None:
    """After the borrower's call ended unanswered, the wrap-up on the page is the contact's:
    it neither carries nor uses the borrower's call."""
    from arrears.channels.telephony.factory import NoDialer
    from arrears.services.outcomes import record_outcome
    from arrears.store.tables_calls import calls
    from tests.integration.web.conftest import NOW

    app.__dict__["dialer"] = NoDialer()
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    borrower_call = _action(app, case_id, "dpd1_call")
    with app.engine.begin() as conn:  # the borrower's call as the dialler records its end
        inter = record_outcome(
            conn,
            case_id=case_id,
            target_type="borrower",
            target_id="B1",
            channel="call",
            outcome="no_answer",
            at=NOW,
            business_date=DAY1,
            agent="agent",
            action_id=borrower_call,
        ).interaction_id
        call_id = conn.execute(
            calls.insert()
            .values(
                call_key="k-ended",
                case_id=case_id,
                action_id=borrower_call,
                agent="agent",
                target_type="borrower",
                target_id="B1",
                dialer="none",
                business_date=DAY1,
                started_at=NOW,
                ended_at=NOW,
                outcome="no_answer",
                talk_ms=0,
                interaction_id=inter,
            )
            .returning(calls.c.id)
        ).scalar_one()
    page = web.get(f"/cases/{case_id}?call={call_id}").text
    wrap = page[page.index('data-testid="wrapup"') :]
    assert 'name="call_id"' not in wrap.split("</form>")[0]  # the contact's form
    assert 'class="primary"' not in wrap.split("</form>")[0]  # nothing pre-chosen for it
    contact_task = re.search(r'name="action_id" value="(\d+)"', wrap).group(1)  # type: ignore[union-attr]
    r = web.post(
        f"/cases/{case_id}/outcome",
        data={
            "csrf": csrf,
            "action_id": contact_task,
            "call_id": str(call_id),  # a stale form field does not redirect the outcome
            "outcome": "contact_reached",
        },
    )
    assert r.status_code == 303
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(t.interactions.c.target_type, t.interactions.c.outcome).order_by(
                t.interactions.c.id
            )
        ).all()
    assert [tuple(r) for r in rows] == [("borrower", "no_answer"), ("contact", "contact_reached")]


def test_the_agent_is_told_of_a_rejection_and_its_reason(web: TestClient, app: App) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    web.post(
        f"/cases/{case_id}/plan",
        data={"csrf": csrf, "instalments": "6", "first_due_on": "2026-03-16"},
    )
    with app.engine.connect() as conn:
        plan_id = conn.scalar(select(t.plans.c.id).where(t.plans.c.case_id == case_id))
    web.cookies.clear()
    lead_csrf = sign_in(web, "lead")
    r = web.post(
        f"/lead/plans/{plan_id}/reject",
        data={"csrf": lead_csrf, "reason": "六期太长，请先试三期"},
    )
    assert r.status_code == 303
    web.cookies.clear()
    sign_in(web, "agent")
    for page in (web.get("/agent").text, web.get(f"/cases/{case_id}").text):
        notice = page[page.index(f'data-testid="decision-{plan_id}"') :].split("</li>")[0]
        assert "已驳回" in notice and "六期太长，请先试三期" in notice


def test_a_promise_taken_on_the_call_is_recorded_with_its_outcome(
    web: TestClient, app: App
) -> None:
    case_id = _case_of(app, "B1")
    csrf = sign_in(web, "agent")
    web.post("/agent/next", data={"csrf": csrf})
    page = web.get(f"/cases/{case_id}").text
    assert 'data-testid="wrap-promise"' in page
    task = _action(app, case_id, "dpd1_call")
    form = {"csrf": csrf, "action_id": task, "outcome": "promise"}
    r = web.post(
        f"/cases/{case_id}/outcome",
        data={**form, "promise_amount": "50000", "promise_due_on": "2026-03-09"},
    )
    assert r.status_code == 422 and "承诺金额不能超过欠款" in r.text
    assert 'value="50000"' in r.text and 'value="2026-03-09"' in r.text
    with app.engine.connect() as conn:
        assert conn.scalar(select(t.interactions.c.id)) is None  # nothing half-recorded
    r = web.post(
        f"/cases/{case_id}/outcome",
        data={**form, "promise_amount": "500.00", "promise_due_on": "2026-03-09"},
    )
    assert r.status_code == 303
    with app.engine.connect() as conn:
        outcome = conn.scalar(select(t.interactions.c.outcome))
        promise = conn.execute(select(t.promises)).one()
    assert outcome == "promise"
    assert (promise.amount, str(promise.due_on)) == (50000, "2026-03-09")
