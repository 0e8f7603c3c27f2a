"""A challenger strategy goes into production, date by date (SQLite and PostgreSQL).

16 March  100 borrowers fall behind: their cases open under the shipped seed (nothing deployed).
          A strategist deploys `seed_challenger_day3` (the challenger waits until DPD 3 for the
          first call); its author may not approve it; a second user approves it from 17 March
          with 30% of new cases to the challenger.
17–21 March  1,000 borrowers fall behind, 200 a day: each new case is given the deployed
          version and a variant by the shares (≈30% challenger); the challenger's cases get
          their day-one reminder but no call; the 100 cases of the 16th keep the seed.
21 March  the experiment report and the manager's variant view show the same figures.
22 March  the strategist rolls it back from the 22nd: 200 new cases, none to the challenger;
          the open challenger cases keep their variant and version.
The audit log holds the deploy, the approval and the rollback, and its chain verifies.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, insert, select

from arrears.analytics.experiments import experiment_report
from arrears.engine.run_day import run_day
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services import dashboards as dash
from arrears.services import strategies as svc
from arrears.services.users import DEMO_PASSWORD, add_user, seed_demo_users
from arrears.store import tables as t
from arrears.store.tables_strategy import case_strategy_versions
from arrears.strategy.loader import BUILTIN
from arrears.web.app import create_app
from tests.factories import RING
from tests.integration.api.conftest import cheap_password_hashing, make_app  # noqa: F401
from tests.integration.web.conftest import sign_in

FIRST = date(2026, 3, 16)  # a Monday
APPROVED_FROM = FIRST + timedelta(days=1)
LAST_NEW = FIRST + timedelta(days=5)  # 21 March
ROLLED_BACK_FROM = LAST_NEW + timedelta(days=1)
NAME = "seed_challenger_day3"
SOURCE = BUILTIN[NAME].read_text(encoding="utf-8")


def _at(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 9, 0, tzinfo=UTC)


def _borrowers(conn: Connection, prefix: str, n: int, due: date) -> None:
    """n borrowers, each with one instalment of 1,000.00 yuan due on `due`, never paid."""
    people = []
    for i in range(n):
        phone = f"+86138{hash((prefix, i)) % 10**8:08d}"
        people.append(
            {
                "id": f"{prefix}{i:04d}",
                "name_enc": RING.encrypt("王芳"),
                "phone_enc": RING.encrypt(phone),
                "phone_index": RING.blind_index(phone),
            }
        )
    conn.execute(insert(t.borrowers), people)
    conn.execute(
        insert(t.accounts),
        [
            {
                "id": f"A-{p['id']}",
                "borrower_id": p["id"],
                "product": "instalment_loan",
                "currency": "CNY",
                "principal": 100_000,
                "opened_on": date(2026, 1, 1),
            }
            for p in people
        ],
    )
    conn.execute(
        insert(t.due_items),
        [
            {"account_id": f"A-{p['id']}", "seq": 1, "due_on": due, "principal": 100_000}
            for p in people
        ],
    )


def _cases(conn: Connection, opened: list[date]) -> dict[int, tuple[str, str, int | None]]:
    """case id -> (strategy, variant, deployed version id) of the cases opened on the dates."""
    c, cv = t.cases, case_strategy_versions
    rows = conn.execute(
        select(c.c.id, c.c.strategy, c.c.variant, cv.c.version_id)
        .select_from(c.outerjoin(cv, cv.c.case_id == c.c.id))
        .where(c.c.opened_on.in_(opened))
    ).all()
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


def _steps(conn: Connection, case_ids: list[int], on: date) -> dict[int, set[str]]:
    a = t.actions
    out: dict[int, set[str]] = {i: set() for i in case_ids}
    for case_id, step in conn.execute(
        select(a.c.case_id, a.c.step).where(a.c.business_date == on, a.c.case_id.in_(case_ids))
    ):
        out[int(case_id)].add(step)
    return out


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture
def engine(db: Engine) -> Engine:
    with db.begin() as conn:
        _borrowers(conn, "OLD", 100, FIRST - timedelta(days=1))
        for i, day in enumerate(_days(APPROVED_FROM, LAST_NEW)):
            _borrowers(conn, f"N{i}-", 200, day - timedelta(days=1))
        _borrowers(conn, "LATE", 200, ROLLED_BACK_FROM - timedelta(days=1))
        seed_demo_users(conn)  # the manager signs in to the web below
        add_user(conn, "lin", "strategist-pass", "strategist", at=_at(FIRST))
        add_user(conn, "zhao", "strategist-pass", "strategist", at=_at(FIRST))
    return db


def test_a_challenger_deployed_approved_and_rolled_back(
    engine: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    # 16 March: nothing deployed, the day runs as it always did
    run_day(engine, FIRST)
    with engine.connect() as conn:
        old = _cases(conn, [FIRST])
    assert len(old) == 100
    assert set(old.values()) == {("seed", "champion", None)}

    # the strategist deploys the challenger; deploying the same file again changes nothing
    with engine.begin() as conn:
        pending = svc.deploy(
            conn, keyring, source=SOURCE, path="day3.yaml", by="lin", at=_at(FIRST)
        )
        again = svc.deploy(conn, keyring, source=SOURCE, path="day3.yaml", by="lin", at=_at(FIRST))
    assert again.id == pending.id and pending.status is svc.VersionStatus.PENDING
    assert pending.sha256 == svc.sha256_of(SOURCE) and pending.source == SOURCE

    # its author may not approve it: nothing changes
    with (
        pytest.raises(svc.StrategyApproverIsAuthor, match="second person"),
        engine.begin() as conn,
    ):
        svc.approve(
            conn, keyring, name=NAME, version=1, by="lin",
            active_from=APPROVED_FROM, shares={"challenger_day3": 30}, at=_at(FIRST),
        )  # fmt: skip
    # nor may anyone approve it from a day already run
    with pytest.raises(svc.StrategyStartInPast), engine.begin() as conn:
        svc.approve(
            conn, keyring, name=NAME, version=1, by="zhao",
            active_from=FIRST, shares={"challenger_day3": 30}, at=_at(FIRST),
        )  # fmt: skip
    with engine.begin() as conn:
        approved = svc.approve(
            conn, keyring, name=NAME, version=1, by="zhao",
            active_from=APPROVED_FROM, shares={"challenger_day3": 30}, at=_at(FIRST),
        )  # fmt: skip
    assert approved.shares == (("champion", 70), ("challenger_day3", 30))

    # 17–21 March: 1,000 new cases, each given the deployed version and a variant by share
    for day in _days(APPROVED_FROM, LAST_NEW):
        run_day(engine, day)
        with engine.connect() as conn:
            today = _cases(conn, [day])
            steps = _steps(conn, list(today), day)
        assert len(today) == 200
        assert {v for _, _, v in today.values()} == {approved.id}
        for case_id, (_, variant, _) in today.items():
            # the challenger reminds on day one but waits for DPD 3 to call; the champion calls
            assert "dpd1_sms" in steps[case_id]
            assert ("dpd1_call" in steps[case_id]) == (variant == "champion")
    with engine.connect() as conn:
        new = _cases(conn, _days(APPROVED_FROM, LAST_NEW))
        old_now = _cases(conn, [FIRST])
    assert {s for s, _, _ in new.values()} == {NAME}
    challenger = sum(1 for _, v, _ in new.values() if v == "challenger_day3")
    # 1,000 cases at 30%: a standard deviation is 1.4 points; 25% or 35% is a wrong share
    assert 0.26 <= challenger / len(new) <= 0.34, challenger
    assert old_now == old  # the cases open before the approval keep the seed

    # 21 March: the experiment report and the manager's view show the same figures
    with engine.connect() as conn:
        report = experiment_report(conn, NAME, LAST_NEW, approved.shares)
        view = [v for v in dash.variant_results(conn, LAST_NEW) if v.strategy == NAME]
    assert [(v.variant, v.cases) for v in report.variants] == [
        ("champion", len(new) - challenger),
        ("challenger_day3", challenger),
    ]
    assert [v.result for v in view] == report.variants
    page = _manager_page(engine, keyring, tmp_path, LAST_NEW)
    for v in report.variants:
        row = re.search(rf'data-testid="variant-{NAME}-{v.variant}-CNY">(.*?)</tr>', page, re.S)
        assert row, v.variant
        assert f">{v.cases:,}<" in row.group(1)
        assert f"{v.share}%" in row.group(1)
        assert v.recovery_rate.show(True) in row.group(1)  # the same interval, not a rounding

    # 22 March: rolled back, new cases go back to the seed; open ones keep their variant
    with engine.begin() as conn:
        done = svc.rollback(conn, keyring, name=NAME, by="lin", from_=ROLLED_BACK_FROM,
                            at=_at(LAST_NEW))  # fmt: skip
    assert done.now_in_force is None and done.retired.status is svc.VersionStatus.ROLLED_BACK
    run_day(engine, ROLLED_BACK_FROM)
    with engine.connect() as conn:
        late = _cases(conn, [ROLLED_BACK_FROM])
        kept = _cases(conn, _days(APPROVED_FROM, LAST_NEW))
        at_dpd3 = list(_cases(conn, [ROLLED_BACK_FROM - timedelta(days=2)]))
        steps = _steps(conn, at_dpd3, ROLLED_BACK_FROM)
        entries = audit.entries(conn, kind=audit.AuditKind.STRATEGY.value)
        broken = audit.verify(conn, keyring)
    assert len(late) == 200
    assert set(late.values()) == {("seed", "champion", None)}
    assert kept == new
    # the version rolled back still plans the cases it holds: DPD 3 of the 20 March cases
    assert len(steps) == 200 and all("dpd_call_3" in s for s in steps.values())

    # the audit log: who deployed, approved and rolled back what, in order; the chain holds
    assert [(e["actor"], _action(e)) for e in reversed(entries)] == [
        ("lin", "deploy"),
        ("zhao", "approve"),
        ("lin", "rollback"),
    ]
    assert all(e["subject"] == f"strategy:{NAME}:v1" for e in entries)
    assert svc.sha256_of(SOURCE) in entries[-1]["detail"]
    assert broken == []


def _action(entry: dict[str, object]) -> str:
    m = re.search(r'"action": "(\w+)"', str(entry["detail"]))
    assert m
    return m.group(1)


def _manager_page(engine: Engine, keyring: KeyRing, tmp_path: Path, day: date) -> str:
    app = make_app(engine, keyring, tmp_path)
    web = create_app(app, business_date=day, clock=lambda: _at(day))
    with TestClient(web, base_url="https://testserver", follow_redirects=False) as client:
        sign_in(client, "manager", DEMO_PASSWORD)
        page = client.get("/manager")
    assert page.status_code == 200
    return page.text
