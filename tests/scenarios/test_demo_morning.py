"""What `arrears demo --serve` leaves behind: the next business day run and not yet worked, a
few cases in every demo agent's own queue, and an experiment that the next day's run (the
default strategy, as `arrears run-day` runs it) does not disturb."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from arrears.bootstrap import App
from arrears.config import Settings
from arrears.engine.run_day import last_business_date
from arrears.services.users import DEMO_PASSWORD, DEMO_USERS, Role
from arrears.sim.demo import run_demo
from arrears.store import tables as t
from arrears.store.tables_strategy import strategy_assignments
from arrears.web.app import create_app

AGENTS = [name for name, role, _, _ in DEMO_USERS if role is Role.AGENT]


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no csrf field on the page"
    return m.group(1)


def test_the_demo_leaves_every_agent_work_and_keeps_the_experiment(
    db: Engine, tmp_path: Path
) -> None:
    app = App(Settings(key_file=tmp_path / "keys.json", outbox_dir=tmp_path / "outbox"))
    app.__dict__["engine"] = db
    result = run_demo(app, borrowers=300, days=25, seed=5)
    assert result.next_day == result.end + timedelta(days=1)
    with db.connect() as conn:
        assert last_business_date(conn) == result.next_day  # the web works on the new day
        open_cases = conn.execute(
            select(t.cases.c.id, t.cases.c.assigned_to).where(t.cases.c.status == "open")
        ).all()
    assigned = {case_id: who for case_id, who in open_cases if who}
    for agent in AGENTS:
        mine = result.handed_out[agent]
        assert mine, f"{agent} was given no case"
        assert all(assigned.get(case_id) == agent for case_id in mine)
        assert result.queue_sizes[agent] >= len(mine)

    # each agent signs in and finds a case of their own with work today behind "Next case"
    web = create_app(app)
    for agent in AGENTS:
        with TestClient(web, base_url="https://testserver", follow_redirects=False) as client:
            form = client.get("/login")
            r = client.post(
                "/login",
                data={"username": agent, "password": DEMO_PASSWORD, "csrf": _csrf(form.text)},
            )
            assert r.status_code == 303, r.text
            csrf = _csrf(client.get(r.headers["location"]).text)
            r = client.post("/agent/next", data={"csrf": csrf})
            assert r.status_code == 303
            taken = r.headers["location"]
            assert re.fullmatch(r"/cases/\d+", taken), f"{agent}: {taken}"
            assert int(taken.rsplit("/", 1)[1]) in result.handed_out[agent]

    # the next day's run, as `arrears run-day` does it: nobody's variant moves
    def experiment() -> tuple[dict[int, tuple[str, str]], set[tuple[int, str, str]]]:
        with db.connect() as conn:
            cases = {
                r.id: (r.strategy, r.variant)
                for r in conn.execute(
                    select(t.cases.c.id, t.cases.c.strategy, t.cases.c.variant).where(
                        t.cases.c.status == "open"
                    )
                )
            }
            given = {
                (r.case_id, r.strategy, r.variant)
                for r in conn.execute(
                    select(
                        strategy_assignments.c.case_id,
                        strategy_assignments.c.strategy,
                        strategy_assignments.c.variant,
                    )
                )
            }
        return cases, given

    before_cases, before_given = experiment()
    assert {s for s, _ in before_cases.values()} == {"seed_challenger_day3"}
    assert {v for _, v in before_cases.values()} == {"champion", "challenger_day3"}
    app.run_day(result.next_day + timedelta(days=1))
    after_cases, after_given = experiment()
    still_open = before_cases.keys() & after_cases.keys()
    assert still_open
    assert {i: after_cases[i] for i in still_open} == {i: before_cases[i] for i in still_open}
    assert before_given <= after_given
    moved = {(i, s) for i, s, _ in after_given - before_given if i in before_cases}
    assert moved == set(), "cases of the running experiment were given another strategy"
