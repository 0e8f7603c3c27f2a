"""Agency placement, date by date, through the daily run, the real gate and the real HTTP app
(SQLite and PostgreSQL).

Three borrowers fall behind on 1 August 2026. Two agencies: `north` takes cases from DPD 90
(15 % to DPD 119, 20 % from 120), `south` from DPD 120 (tried first). A late-stage strategy
calls every late case daily, so what the lender plans for each case is plain to see.

- 29 Oct: the run plans the late call for B1 (DPD 89) and B2 (DPD 129); the placement places
  B2 with south (DPD ≥ 120) and calls its call off; B1 stays with the lender.
- 30 Oct (DPD 90): B1 is placed with north (B3 is only at DPD 60); its call of the day is
  called off; north's file lists B1 only, with what the rule pack lets it share.
- 31 Oct: the run plans nothing for B1 and B2, the late call for B3. Over the API north reads
  only B1's case — south's case, the lender's own token and south's token on B1 are refused —
  asks the port before its call (allowed; recorded as an agency dial), pays 1,000.00 and
  reports a promise; the same payment reference again is refused and nothing is posted twice.
- 2 Nov: the run posts north's payment; north pays 123.45 more, the borrower pays the lender
  200.00 directly (still commissionable: the case is placed).
- 5 Nov: B1 is recalled: north's token no longer sees it, the recall is audited, and the run
  plans the lender's late call for B1 again. A payment after the recall earns no commission.
- Commission: October 150.00 (1,000.00 at 15 %), November 18.52 + 30.00 = 48.52 — a hand count.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

from arrears.bootstrap import App
from arrears.compliance.batch import gate_planned_actions
from arrears.config import Settings
from arrears.engine.run_day import run_day
from arrears.privacy import audit
from arrears.services import agencies as ag
from arrears.services.agency_commission import monthly
from arrears.services.auth import ALL_SCOPES, issue_token
from arrears.services.placement_file import place_and_file
from arrears.store import tables as t
from arrears.web.app import create_app
from tests import factories as f

DUE = date(2026, 8, 1)
OCT29, OCT30, OCT31 = date(2026, 10, 29), date(2026, 10, 30), date(2026, 10, 31)
NOV2, NOV5 = date(2026, 11, 2), date(2026, 11, 5)
STRATEGY = """
strategy: late_stage
version: 1
currency: CNY
salt: late
variants:
  - name: champion
    share: 100
segments:
  - name: late
    when: true
    queue: late
steps:
  - name: late_call
    on: daily
    when: dpd >= 60
    action: {channel: call, template: call_borrower, target: borrower, priority: 40}
"""


def _at(d: date, hour_utc: int = 2) -> datetime:  # 10:00 in Shanghai
    return datetime.combine(d, time(hour_utc), tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = _at(OCT29)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(db: Engine, tmp_path: Path) -> Iterator[tuple[App, TestClient, Clock]]:
    app = App(Settings(database_url=str(db.url), outbox_dir=tmp_path / "outbox"))
    app.engine = db  # type: ignore[misc]
    app.keyring = f.RING  # type: ignore[misc]  # the factories' ring encrypted the book
    clock = Clock()
    with TestClient(create_app(app, clock=clock), base_url="https://testserver") as client:
        yield app, client, clock


def _book(db: Engine) -> None:
    with db.begin() as conn:
        for bid, phone, due in (
            ("B1", "+8613800000001", DUE),
            ("B2", "+8613800000002", DUE - timedelta(days=40)),
            ("B3", "+8613800000003", DUE + timedelta(days=30)),
        ):
            f.borrower(conn, bid, phone=phone, name=f"王{bid}")
            f.contact(conn, f"C{bid}", bid, phone="+8613900000" + phone[-3:])
            f.account(conn, f"A{bid}", bid, [(due, 500_000, 0)])


def _run(db: Engine, d: date, strategy: Path) -> None:
    run_day(db, d, gate=gate_planned_actions, strategy=str(strategy))


def _late_calls(db: Engine, d: date) -> dict[str, str]:
    """borrower -> status of the lender's late call planned on d."""
    a, c = t.actions.c, t.cases.c
    with db.connect() as conn:
        rows = conn.execute(
            select(c.borrower_id, a.status)
            .join(t.cases, c.id == a.case_id)
            .where(a.business_date == d, a.step == "late_call")
        ).all()
    return {r.borrower_id: r.status for r in rows}


def _case(db: Engine, borrower: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower)).scalar_one()
        )


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_case_at_dpd_90_is_worked_by_an_agency_until_recalled(
    world: tuple[App, TestClient, Clock], tmp_path: Path
) -> None:
    app, client, clock = world
    db, ring = app.engine, app.keyring
    strategy = tmp_path / "late.yaml"
    strategy.write_text(STRATEGY, encoding="utf-8")
    _book(db)
    with db.begin() as conn:
        ag.add_agency(
            conn, "north", "North Recoveries", ag.parse_tiers("0:15,120:20"),
            by="manager", at=_at(OCT29), ring=ring,
        )  # fmt: skip
        ag.add_agency(
            conn, "south", "South Collect", ag.parse_tiers("0:25"),
            by="manager", at=_at(OCT29), ring=ring,
        )  # fmt: skip
        ag.add_rule(conn, "north", min_dpd=90, by="manager", at=_at(OCT29), ring=ring)
        ag.add_rule(conn, "south", min_dpd=120, priority=10, by="manager", at=_at(OCT29), ring=ring)
        north = _bearer(ag.issue_agency_token(conn, "north", _at(OCT29), ring=ring, by="admin"))
        south = _bearer(ag.issue_agency_token(conn, "south", _at(OCT29), ring=ring, by="admin"))
        lender = _bearer(issue_token(conn, "core", ALL_SCOPES, _at(OCT29)))
    files = tmp_path / "placements"

    # --- 29 Oct, DPD 89: the lender plans its late call for everyone; nothing placed ----------
    _run(db, OCT29, strategy)
    assert _late_calls(db, OCT29) == {"B1": "planned", "B2": "planned"}  # B3: DPD 59
    with db.begin() as conn:
        early = place_and_file(conn, ring, OCT29, files, by="nightly", at=_at(OCT29))
    assert {k: n for k, (n, _) in early.items()} == {"south": 1}  # B2 at DPD 129
    assert _late_calls(db, OCT29) == {"B1": "planned", "B2": "cancelled"}

    # --- 30 Oct, DPD 90: B1 to north; its call of the day called off -------------------------
    clock.now = _at(OCT30)
    _run(db, OCT30, strategy)
    assert _late_calls(db, OCT30) == {"B1": "planned", "B3": "planned"}  # B2 is south's
    with db.begin() as conn:
        done = place_and_file(conn, ring, OCT30, files, by="nightly", at=_at(OCT30))
        again = place_and_file(conn, ring, OCT30, files, by="nightly", at=_at(OCT30))
    assert {k: n for k, (n, _) in done.items()} == {"north": 1}
    assert again == {}  # re-run safe: a placed case is not placed twice
    assert _late_calls(db, OCT30) == {"B1": "cancelled", "B3": "planned"}
    b1, b2 = _case(db, "B1"), _case(db, "B2")
    csv_path, xlsx_path = done["north"][1]
    with csv_path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["case_id"], r["dpd_at_placement"], r["overdue_amount"]) for r in rows] == [
        (str(b1), "90", "5000.00")
    ]
    assert (rows[0]["name"], rows[0]["phone"]) == ("王B1", "+8613800000001")  # CN pack shares
    text = csv_path.read_text(encoding="utf-8")
    assert "CB1" not in text and "+8613900000001" not in text and "sibling" not in text
    sheet = load_workbook(xlsx_path).active
    assert sheet is not None
    assert [c.value for c in sheet[2]][:3] == [str(b1), "2026-10-30", "90"]

    # --- 31 Oct: the run leaves B1 and B2 to the agencies; north works B1 over the API -------
    clock.now = _at(OCT31)
    _run(db, OCT31, strategy)
    assert _late_calls(db, OCT31) == {"B3": "planned"}
    r = client.get("/api/v1/agency/cases", headers=north)
    assert r.status_code == 200, r.text
    assert [c["case_id"] for c in r.json()] == [b1]
    assert r.json()[0]["name"] == "王B1" and r.json()[0]["identity_shared"] is True
    assert client.get(f"/api/v1/agency/cases/{b2}", headers=north).status_code == 404
    assert client.get(f"/api/v1/agency/cases/{b1}", headers=south).status_code == 404
    assert [c["case_id"] for c in client.get("/api/v1/agency/cases", headers=south).json()] == [b2]
    assert client.get("/api/v1/agency/cases", headers=lender).status_code == 403
    assert client.get(f"/api/v1/cases/{b1}", headers=north).status_code == 403  # not its scope

    r = client.post(f"/api/v1/agency/cases/{b1}/ask", json={"channel": "call"}, headers=north)
    assert r.status_code == 200, r.text
    assert (r.json()["verdict"], r.json()["pack"]) == ("allow", "cn")
    clock.now = _at(OCT31, 15)  # 23:00 in Shanghai: outside the CN pack's hours
    r = client.post(f"/api/v1/agency/cases/{b1}/ask", json={"channel": "call"}, headers=north)
    assert r.json()["verdict"] == "defer" and r.json()["rule_id"] == "cn.time_window"
    clock.now = _at(OCT31)

    pay = {
        "reference": "N-0001",
        "account_id": "AB1",
        "amount": "1000.00",
        "currency": "CNY",
        "received_on": "2026-10-31",
    }
    r = client.post(f"/api/v1/agency/cases/{b1}/payments", json=pay, headers=north)
    assert r.status_code == 201, r.text
    first_id = r.json()["payment_id"]
    r = client.post(f"/api/v1/agency/cases/{b1}/payments", json=pay, headers=north)
    assert r.status_code == 409 and r.json()["type"].endswith("agency-payment-duplicate")
    assert first_id in r.json()["detail"]
    r = client.post(f"/api/v1/agency/cases/{b2}/payments", json=pay, headers=north)
    assert r.status_code == 404  # not its case, and nothing posted
    r = client.post(
        f"/api/v1/agency/cases/{b1}/outcomes",
        json={"outcome": "promise", "note": "pays the rest next week"},
        headers=north,
    )
    assert r.status_code == 201, r.text
    with db.connect() as conn:
        paid = conn.execute(
            select(t.payments.c.id, t.payments.c.amount, t.payments.c.source).where(
                t.payments.c.account_id == "AB1"
            )
        ).all()
        agents = set(
            conn.scalars(select(t.interactions.c.agent).where(t.interactions.c.case_id == b1))
        )
        dialled = (
            conn.execute(
                select(t.actions.c.status).where(
                    t.actions.c.case_id == b1, t.actions.c.step.like("agent_dial_agency_north%")
                )
            )
            .scalars()
            .all()
        )
    assert [tuple(p) for p in paid] == [(first_id, 100_000, "agency")]  # once, not twice
    assert agents == {"agency:north"}
    assert sorted(dialled) == ["cancelled", "done"]  # the allowed call, the deferred ask

    # --- 2 Nov: the run posts north's payment; more money comes in ------------------------
    clock.now = _at(NOV2)
    _run(db, NOV2, strategy)
    with db.connect() as conn:
        overdue = conn.scalar(select(t.cases.c.overdue_amount).where(t.cases.c.id == b1))
    assert overdue == 400_000
    pay2 = {**pay, "reference": "N-0002", "amount": "123.45", "received_on": "2026-11-02"}
    assert (
        client.post(f"/api/v1/agency/cases/{b1}/payments", json=pay2, headers=north).status_code
        == 201
    )
    with db.begin() as conn:
        f.payment(conn, "DIRECT-1", "AB1", 20_000, date(2026, 11, 3))

    # --- 5 Nov: recall; the agency no longer sees B1 and the lender plans again -----------
    clock.now = _at(NOV5)
    with db.begin() as conn:
        recalled = ag.recall(
            conn, NOV5, case_id=b1, reason="client asked", by="lead", at=_at(NOV5), ring=ring
        )
        f.payment(conn, "DIRECT-2", "AB1", 10_000, NOV5)  # after the recall: not the agency's
        with pytest.raises(ag.PlacementUnknown):
            ag.recall(conn, NOV5, case_id=b1, by="lead", at=_at(NOV5), ring=ring)
    assert [(p.case_id, p.status) for p in recalled] == [(b1, "recalled")]
    assert client.get(f"/api/v1/agency/cases/{b1}", headers=north).status_code == 404
    assert client.get("/api/v1/agency/cases", headers=north).json() == []
    assert (
        client.post(
            f"/api/v1/agency/cases/{b1}/payments",
            json={**pay, "reference": "N-0003"},
            headers=north,
        ).status_code
        == 404
    )
    _run(db, NOV5, strategy)
    assert _late_calls(db, NOV5)["B1"] in ("planned", "done")
    assert "B2" not in _late_calls(db, NOV5)  # still south's
    with db.begin() as conn:
        assert place_and_file(conn, ring, NOV5, files, by="nightly", at=_at(NOV5)) == {}

    # --- audit and commission ------------------------------------------------------------
    with db.connect() as conn:
        entries = audit.entries(conn, kind=audit.AuditKind.AGENCY.value, limit=50)
        assert audit.verify(conn, ring) == []
        october = monthly(conn, "2026-10")
        november = monthly(conn, "2026-11")
        counted = conn.scalar(select(func.count()).select_from(t.payments))
    actions_seen = sorted(
        json.loads(e["detail"])["action"] for e in entries if e["subject"] == f"case:{b1}"
    )
    assert actions_seen == ["placed", "recalled"]
    assert counted == 4
    assert [(x.agency_id, x.payments, x.recovered, x.commission) for x in october] == [
        ("north", 1, 100_000, 15_000)  # 1,000.00 at 15 %
    ]
    # 123.45 × 15 % = 18.5175 → 18.52; 200.00 × 15 % = 30.00; DIRECT-2 came after the recall
    assert [(x.agency_id, x.payments, x.recovered, x.commission) for x in november] == [
        ("north", 2, 32_345, 1_852 + 3_000)
    ]
