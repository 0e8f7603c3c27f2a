"""The complaints register on the web (SQLite and PostgreSQL), in Chinese and English: a team lead
receives a complaint by phone with outreach paused; the compliance officer finds it, assigns,
answers and closes it; the overdue come first; an agent may not open the register. A specialist
asks for an outreach by hand from the case page and reads the gate's verdict in words."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.compliance.officer import set_flag
from arrears.engine.specialist import move_vulnerable
from arrears.services import complaints as svc
from arrears.services.users import add_team, add_user
from arrears.store import tables as t
from arrears.store.tables_compliance import borrower_flags
from tests.integration.web.conftest import DAY1, NOW, sign_in

_RAW = ("contact_frequency", "regulator", "answered", "upheld", "team_lead", "open")


def _visible(html: str) -> str:
    """The page's text without tags, attributes and what is marked as data."""
    html = re.sub(r"<(\w+)[^>]*data-i18n-ignore[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_receive_assign_answer_close(web: TestClient, app: App) -> None:
    csrf = sign_in(web, "lead")
    page = web.get("/complaints")
    assert page.status_code == 200 and "投诉登记" in page.text
    r = web.post(
        "/complaints",
        data={
            "csrf": csrf,
            "borrower_id": "B1",
            "channel": "phone",
            "category": "contact_frequency",
            "summary": "打了太多次电话",
            "received_on": DAY1.isoformat(),
            "pause_outreach": "on",
        },
    )
    assert r.status_code == 303, r.text
    one = web.get(r.headers["location"]).text
    assert "投诉已登记" in one and "已暂停联络" in one and "打了太多次电话" in one
    assert "2026年3月17日" in one  # due 15 days later under cn
    cid = int(re.search(r"/complaints/(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
    with app.engine.connect() as conn:
        assert conn.execute(select(borrower_flags.c.flag)).scalars().all() == ["complaint"]
    # a bad category is refused in the page's language and nothing is written
    bad = web.post(
        "/complaints",
        data={"csrf": csrf, "borrower_id": "B1", "channel": "phone", "category": "rude",
              "summary": "x"},
    )  # fmt: skip
    assert bad.status_code == 422 and "请从列表中选择" in bad.text
    assert not any(raw in _visible(bad.text) for raw in _RAW)

    web.cookies.clear()
    csrf = sign_in(web, "compliance")
    listed = web.get("/complaints").text
    assert f'data-testid="complaint-{cid}"' in listed and "联络频次" in listed
    r = web.post(f"/complaints/{cid}/close", data={"csrf": csrf})
    assert r.status_code == 422 and "已答复的才能结案" in r.text
    r = web.post(f"/complaints/{cid}/assign", data={"csrf": csrf, "owner": "compliance"})
    assert r.status_code == 303
    r = web.post(
        f"/complaints/{cid}/answer",
        data={"csrf": csrf, "outcome": "upheld", "response": "每天最多致电一次"},
    )
    assert r.status_code == 303
    one = web.get(r.headers["location"]).text
    assert "答复已记录" in one and "投诉成立" in one and "结案后解除暂停" in one
    assert not any(raw in _visible(one) for raw in _RAW)
    r = web.post(f"/complaints/{cid}/close", data={"csrf": csrf})
    assert r.status_code == 303
    with app.engine.connect() as conn:
        assert conn.execute(select(borrower_flags.c.lifted_on)).scalar_one() == DAY1
    # in English
    web.get("/lang/en?back=/complaints")
    page = web.get(f"/complaints/{cid}").text
    assert "Closed" in page and "Contact frequency" in page and "Upheld" in page
    assert not re.search(r"[\u4e00-\u9fff]", _visible(page))

    web.cookies.clear()
    sign_in(web, "agent")
    assert web.get("/complaints").status_code == 403


def test_the_overdue_come_first(web: TestClient, app: App) -> None:
    with app.engine.begin() as conn:
        for borrower, on in (("B1", date(2026, 3, 1)), ("B2", date(2026, 2, 1))):
            svc.receive_complaint(
                conn, app.keyring, channel="regulator", category="conduct", on=on,
                by="lead", at=NOW, summary="s", borrower_id=borrower,
            )  # fmt: skip
    sign_in(web, "compliance")
    page = web.get("/complaints").text
    rows = re.findall(r'data-testid="complaint-(\d+)"[^>]*?(data-overdue="1")?>', page)
    assert rows == [("2", 'data-overdue="1"'), ("1", "")]  # received 1 Feb: overdue since 16 Feb
    assert 'data-testid="report-overdue">1<' in page and 'data-testid="report-total">2<' in page


def test_a_specialist_asks_for_an_outreach(web: TestClient, app: App) -> None:
    with app.engine.begin() as conn:
        add_team(conn, "care", "Specialist care", ["specialist"])
        add_user(conn, "spec", "a-long-password", "agent", team_id="care", language="en")
        set_flag(conn, app.keyring, borrower_id="B1", flag="vulnerability", since=DAY1,
                 by="compliance", at=NOW)  # fmt: skip
        move_vulnerable(conn, DAY1)
        case_id = conn.execute(
            select(t.cases.c.id).where(t.cases.c.borrower_id == "B1")
        ).scalar_one()
    csrf = sign_in(web, "spec", "a-long-password")
    page = web.get(f"/cases/{case_id}").text
    assert 'data-testid="outreach-form"' in page and "Outreach by hand" in page
    # the contact while the borrower is reachable: the gate's verdict and reason, in English
    r = web.post(f"/cases/{case_id}/outreach", data={"csrf": csrf, "channel": "call",
                                                     "target": "contact:C1"})  # fmt: skip
    assert r.status_code == 200
    refused = re.search(r'data-testid="call-refused">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    assert refused.startswith("Not allowed: ")
    assert "cn." not in refused
    r = web.post(f"/cases/{case_id}/outreach", data={"csrf": csrf, "channel": "call"})
    assert "The rule pack allows it" in r.text
    # the floor's agent does not see the specialist's case, nor its form
    web.cookies.clear()
    sign_in(web, "agent")
    assert web.get(f"/cases/{case_id}").status_code == 403
