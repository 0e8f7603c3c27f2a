"""The team lead's floor: each agent's day (calls, right-party contacts, promises per currency,
plans, time on call, idle), who is on a call now, every case paged / sorted / filtered, bulk
assignment inside the team only, plan decisions from the case page that the agent is told of,
and recordings that only a team lead (of the case's team) or compliance may play, audited."""

from __future__ import annotations

import re
import wave
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from arrears.bootstrap import App
from arrears.channels.telephony.recordings import RecordingStore
from arrears.domain.money import Money
from arrears.domain.plans import PlanTerms
from arrears.services import floor as fl
from arrears.services.outcomes import record_outcome
from arrears.services.plans import propose_plan
from arrears.services.promises import record_promise
from arrears.store import tables as t
from arrears.store.tables_agent import case_notes
from arrears.store.tables_calls import calls
from arrears.store.tables_compliance import audit_log
from tests.integration.web.conftest import DAY1, NOW, sign_in

EARLY = fl.FloorScope("team-early", ("early", "hardship"))


def _case(app: App, borrower: str) -> int:
    with app.engine.connect() as conn:
        found = conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower))
    assert found is not None
    return int(found)


def _call(app: App, case_id: int, agent: str, started: int, ended: int | None, **kw: object) -> int:
    """A call the dialler placed `started` seconds before NOW (ended `ended` seconds before)."""
    with app.engine.begin() as conn:
        return int(
            conn.execute(
                insert(calls)
                .values(
                    call_key=f"k-{agent}-{started}-{case_id}",
                    case_id=case_id,
                    agent=agent,
                    target_type="borrower",
                    target_id="B1",
                    dialer="test",
                    business_date=DAY1,
                    started_at=NOW - timedelta(seconds=started),
                    ended_at=None if ended is None else NOW - timedelta(seconds=ended),
                    **kw,
                )
                .returning(calls.c.id)
            ).scalar_one()
        )


def test_each_agent_s_day_and_who_is_on_a_call(web: TestClient, app: App) -> None:
    case_id = _case(app, "B1")
    with app.engine.begin() as conn:
        for outcome in ("no_answer", "right_party"):
            record_outcome(
                conn,
                case_id=case_id,
                target_type="borrower",
                target_id="B1",
                channel="call",
                outcome=outcome,
                at=NOW - timedelta(minutes=10),
                business_date=DAY1,
                agent="agent",
            )
        for amount, currency in (("100.00", "CNY"), ("250.50", "CNY")):
            record_promise(
                conn,
                case_id=case_id,
                amount=Money.of(amount, currency),
                due_on=DAY1 + timedelta(days=3),
                made_on=DAY1,
                agent="agent",
            )
        # a promise in another currency is counted, never added to the yuan
        conn.execute(
            insert(t.promises).values(
                case_id=case_id,
                made_on=DAY1,
                due_on=DAY1 + timedelta(days=3),
                amount=5000,
                currency="USD",
                status="open",
                made_by="agent",
            )
        )
    _call(app, case_id, "agent", started=900, ended=780)  # two minutes, over 13 minutes ago
    _call(app, case_id, "agent2", started=95, ended=None)  # ringing for 95 s now

    with app.engine.connect() as conn:
        days = {d.username: d for d in fl.agent_days(conn, EARLY, DAY1, NOW)}
    assert set(days) == {"agent", "agent2", "lead"}  # the early team; agent3 is the late team's
    me = days["agent"]
    assert (me.calls, me.rpc, me.promises) == (2, 1, 3)
    assert me.promised == {"CNY": 35050, "USD": 5000}
    assert me.on_call_seconds == 120 and me.on_call_since is None
    assert me.idle_seconds(NOW) == 600  # since the last outcome, ten minutes ago
    other = days["agent2"]
    assert other.on_call_case == case_id and other.idle_seconds(NOW) is None
    assert other.on_call_seconds == 95

    sign_in(web, "lead")
    page = web.get("/lead").text
    row = page[page.index('data-testid="agent-agent"') :]
    row = row[: row.index("</tr>")]
    assert re.search(r'data-testid="calls-agent">2<', row)
    assert re.search(r'data-testid="rpc-agent">1<', row)
    assert re.search(r'data-testid="promises-agent">3<', row)
    promised = row[row.index('data-testid="promised-agent"') :]
    assert "¥350.50" in promised and "50.00" in promised and "400.50" not in promised
    assert "2:00" in row  # time on call
    live = page[page.index('data-testid="on-call-now"') :]
    assert 'data-testid="live-agent2"' in live and f'href="/cases/{case_id}"' in live
    assert "1:35" in live
    assert 'data-testid="live-agent"' not in live


def _many_cases(app: App, n: int = 30) -> list[int]:
    """n more open cases in the early queue, DPD 1..n, overdue rising with DPD."""
    with app.engine.begin() as conn:
        for k in range(1, n + 1):
            conn.execute(insert(t.borrowers).values(id=f"X{k}", risk_score=500))
            conn.execute(
                insert(t.cases).values(
                    borrower_id=f"X{k}",
                    opened_on=DAY1 - timedelta(days=k),
                    status="open",
                    currency="CNY",
                    overdue_at_open=1000 * k,
                    dpd=k,
                    bucket="M1" if k <= 30 else "M2",
                    overdue_amount=1000 * k,
                    queue="early",
                )
            )
        return list(
            conn.scalars(
                select(t.cases.c.id).where(t.cases.c.borrower_id.like("X%")).order_by(t.cases.c.dpd)
            )
        )


def test_every_case_paged_sorted_and_filtered(web: TestClient, app: App) -> None:
    ids = _many_cases(app)
    with app.engine.connect() as conn:
        first = fl.case_page(conn, EARLY, fl.CaseFilter(per_page=10))
        assert first.total == 31 and first.pages == 4  # B1's case and the thirty
        amounts = [r.overdue_amount for r in first.rows]
        assert amounts == sorted(amounts, reverse=True)
        by_dpd = fl.case_page(
            conn, EARLY, fl.CaseFilter(sort=fl.CaseSort.DPD, descending=False, page=2, per_page=10)
        )
        dpds = [r.dpd for r in by_dpd.rows]
        assert dpds == sorted(dpds) and len(dpds) == 10
        window = fl.case_page(conn, EARLY, fl.CaseFilter(dpd_min=5, dpd_max=9))
        assert sorted(r.id for r in window.rows) == ids[4:9]
        # the late team's case is not on the early team's floor, whatever the filter
        everyone = fl.case_page(conn, fl.FloorScope.everyone(), fl.CaseFilter(per_page=200))
        assert everyone.total == 32
        assert _case(app, "B2") not in {r.id for r in first.rows + by_dpd.rows}

    sign_in(web, "lead")
    page = web.get("/lead?sort=dpd&dir=asc&page=2").text
    shown = [int(x) for x in re.findall(r'data-testid="case-row-(\d+)"', page)]
    with app.engine.connect() as conn:
        expected = [
            r.id
            for r in fl.case_page(
                conn,
                EARLY,
                fl.CaseFilter(sort=fl.CaseSort.DPD, descending=False, page=2),
            ).rows
        ]
    assert shown == expected and len(shown) == 6  # 31 cases, 25 a page
    assert 'data-testid="page-of">2 / 2<' in page
    assert 'data-testid="page-prev"' in page and 'data-testid="page-next"' not in page
    filtered = web.get("/lead?dpd_min=28&dpd_max=30").text
    assert sorted(int(x) for x in re.findall(r'data-testid="case-row-(\d+)"', filtered)) == ids[27:]
    unassigned = web.get("/lead?agent=-&bucket=M1").text
    assert len(re.findall(r'data-testid="case-row-', unassigned)) == 25


def test_bulk_assignment_stays_inside_the_team(web: TestClient, app: App) -> None:
    ids = _many_cases(app, 5)
    csrf = sign_in(web, "lead")
    r = web.post(
        "/lead/assign",
        data={"csrf": csrf, "case_id": [str(i) for i in ids[:3]], "assignee": "agent2"},
    )
    assert r.status_code == 303 and "done=assigned" in r.headers["location"]
    with app.engine.connect() as conn:
        owners = dict(conn.execute(select(t.cases.c.id, t.cases.c.assigned_to)).all())
    assert [owners[i] for i in ids] == ["agent2", "agent2", "agent2", None, None]
    page = web.get(r.headers["location"]).text
    assert f'data-testid="assignee-{ids[0]}"><bdi data-i18n-ignore>agent2<' in page

    # a case of another team's queue: refused, and nothing of the batch changes
    late = _case(app, "B2")
    r = web.post(
        "/lead/assign",
        data={"csrf": csrf, "case_id": [str(ids[3]), str(late)], "assignee": "agent"},
    )
    assert r.status_code == 403
    # an agent of another team: refused
    r = web.post(
        "/lead/assign", data={"csrf": csrf, "case_id": [str(ids[4])], "assignee": "agent3"}
    )
    assert r.status_code == 403
    with app.engine.connect() as conn:
        owners = dict(conn.execute(select(t.cases.c.id, t.cases.c.assigned_to)).all())
    assert owners[ids[3]] is None and owners[ids[4]] is None and owners[late] is None
    # back to the queue
    r = web.post("/lead/assign", data={"csrf": csrf, "case_id": [str(ids[0])], "assignee": ""})
    assert r.status_code == 303
    with app.engine.connect() as conn:
        assert conn.scalar(select(t.cases.c.assigned_to).where(t.cases.c.id == ids[0])) is None
    # an agent may not assign
    web.cookies.clear()
    agent_csrf = sign_in(web, "agent")
    r = web.post(
        "/lead/assign", data={"csrf": agent_csrf, "case_id": [str(ids[1])], "assignee": "agent"}
    )
    assert r.status_code == 403


def _proposed(app: App, case_id: int) -> int:
    from arrears.domain.plans import PlanLimits

    with app.engine.begin() as conn:
        proposed = propose_plan(
            conn,
            case_id=case_id,
            terms=PlanTerms(instalments=6, first_due_on=DAY1 + timedelta(days=7)),
            proposed_on=DAY1,
            by="agent",
            limits=PlanLimits(max_instalments=2, max_waiver=Money.of("0", "CNY")),
            reason="illness, six months",
        )
    assert proposed.approval_reasons
    return int(proposed.plan_id)


def test_the_lead_decides_a_plan_on_the_case_page_and_the_agent_is_told(
    web: TestClient, app: App
) -> None:
    case_id = _case(app, "B1")
    plan_id = _proposed(app, case_id)
    csrf = sign_in(web, "agent")
    assert f'data-testid="plan-review-{plan_id}"' not in web.get(f"/cases/{case_id}").text
    web.cookies.clear()

    csrf = sign_in(web, "lead")
    page = web.get(f"/cases/{case_id}").text
    assert f'data-testid="plan-review-{plan_id}"' in page
    # a rejection needs a reason: back to the case page, the plan still waiting
    r = web.post(
        f"/lead/plans/{plan_id}/reject", data={"csrf": csrf, "reason": " ", "back": "case"}
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"/cases/{case_id}?")
    assert 'data-testid="review-error"' in web.get(r.headers["location"]).text
    reason = "首期金额超过借款人收入，请改为 12 期"
    r = web.post(
        f"/lead/plans/{plan_id}/reject", data={"csrf": csrf, "reason": reason, "back": "case"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/cases/{case_id}?done=rejected"
    with app.engine.connect() as conn:
        plan = conn.execute(select(t.plans).where(t.plans.c.id == plan_id)).one()
        notes = list(conn.scalars(select(case_notes.c.body).where(case_notes.c.case_id == case_id)))
    assert (plan.status, plan.decided_by, plan.decision_note) == ("cancelled", "lead", reason)
    assert any(reason in body for body in notes)  # in the case's timeline
    assert f'data-testid="plan-review-{plan_id}"' not in web.get(f"/cases/{case_id}").text
    # deciding twice is refused
    r = web.post(f"/lead/plans/{plan_id}/approve", data={"csrf": csrf, "back": "case"})
    assert r.status_code == 403
    # the agent sees the decision and its reason on their queue and in the case's timeline
    web.cookies.clear()
    sign_in(web, "agent")
    assert reason in web.get("/agent").text
    assert reason in web.get(f"/cases/{case_id}").text

    # a second proposal, approved from the case page
    second = _proposed(app, case_id)
    web.cookies.clear()
    csrf = sign_in(web, "lead")
    r = web.post(f"/lead/plans/{second}/approve", data={"csrf": csrf, "back": "case"})
    assert r.headers["location"] == f"/cases/{case_id}?done=approved"
    with app.engine.connect() as conn:
        plan = conn.execute(select(t.plans).where(t.plans.c.id == second)).one()
    assert (plan.status, plan.approved_by, plan.decided_by) == ("active", "lead", "lead")


def _wav(path: Path, seconds: float = 0.5) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))
    return path


@pytest.fixture
def recorded(app: App, tmp_path: Path) -> tuple[int, bytes]:
    store = RecordingStore(tmp_path / "recordings")
    app.__dict__["recordings"] = store
    kept = store.put("k-rec", _wav(tmp_path / "call.wav"), NOW)
    call_id = _call(
        app,
        _case(app, "B1"),
        "agent",
        started=300,
        ended=240,
        outcome="answered",
        talk_ms=kept.duration_ms,
        recording_path=kept.path,
        recording_sha256=kept.sha256,
        recording_ms=kept.duration_ms,
    )
    return call_id, store.read(kept.path, kept.sha256)


def _plays(app: App) -> int:
    with app.engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count()).select_from(audit_log).where(audit_log.c.kind == "recording")
            )
            or 0
        )


def test_recordings_play_for_the_team_lead_and_compliance_only(
    web: TestClient, app: App, recorded: tuple[int, bytes]
) -> None:
    call_id, data = recorded
    sign_in(web, "lead")
    page = web.get("/lead").text
    assert f'<audio controls preload="none" src="/lead/recordings/{call_id}"' in page
    r = web.get(f"/lead/recordings/{call_id}")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content == data
    assert _plays(app) == 1
    web.get(f"/lead/recordings/{call_id}")
    assert _plays(app) == 2  # every playback

    for who, status in (("compliance", 200), ("agent", 403), ("lead2", 403), ("manager", 403)):
        web.cookies.clear()
        sign_in(web, who)
        assert web.get(f"/lead/recordings/{call_id}").status_code == status, who
    assert web.get("/lead/recordings/999999").status_code in (403, 404)


def test_recordings_list_is_scoped_and_dated(app: App, recorded: tuple[int, bytes]) -> None:
    call_id, _ = recorded
    with app.engine.connect() as conn:
        mine = fl.recordings_to_review(conn, EARLY, DAY1)
        late = fl.recordings_to_review(conn, fl.FloorScope("team-late", ("late",)), DAY1)
        later = fl.recordings_to_review(conn, EARLY, DAY1 + timedelta(days=30))
    assert [r.id for r in mine] == [call_id]
    assert late == [] and later == []
    assert isinstance(DAY1, date)
