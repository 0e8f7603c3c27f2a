"""A decision's content is recorded once per kind (`gate_rulings`), each action names it — at
planning on the action itself, at any later stage in a narrow row (`gate_decisions`) — and
`explain` still shows every rule consulted and every objection, at planning, at send time and
on carry-over, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from arrears.compliance.batch import gate_planned_actions
from arrears.compliance.history import (
    STATUS,
    candidate_of,
    candidate_sql,
    decide_waived,
    load_counters,
)
from arrears.compliance.loading import load_pack
from arrears.compliance.officer import explain, report
from arrears.compliance.rules.clock import day_start
from arrears.compliance.rules.model import Decision, VerdictKind
from arrears.compliance.send import check_actions
from arrears.store import tables as t
from arrears.store.sql import Dialect, dated
from arrears.store.tables_compliance import borrower_flags, gate_decisions, gate_rulings
from tests.factories import RING

D = date(2026, 1, 16)  # a Friday
CASES = 500
SCOPE = "s.business_date = {d} AND s.status = 'planned' AND s.scheduled_at IS NULL"


def _night(conn: Connection, cases: int = CASES) -> None:
    """One SMS per case, every borrower alike but for the dispute of every other one."""
    conn.execute(
        insert(t.borrowers),
        [
            {
                "id": f"B{n}",
                "name_enc": RING.encrypt("王芳"),
                "phone_enc": RING.encrypt(f"+86138{n:08d}"),
                "phone_index": RING.blind_index(f"+86138{n:08d}"),
            }
            for n in range(cases)
        ],
    )
    conn.execute(
        insert(t.cases),
        [
            {"id": n + 1, "borrower_id": f"B{n}", "opened_on": D, "currency": "CNY"}
            for n in range(cases)
        ],
    )
    disputes = range(1, cases, 2)
    if not disputes:
        return _actions(conn, cases)
    conn.execute(
        insert(borrower_flags),
        [
            {
                "borrower_id": f"B{n}",
                "flag": "dispute",
                "since": D,
                "set_by": "test",
                "set_at": datetime(2026, 1, 10, tzinfo=UTC),
            }
            for n in disputes
        ],
    )
    _actions(conn, cases)


def _actions(conn: Connection, cases: int) -> None:
    conn.execute(
        insert(t.actions),
        [
            {
                "case_id": n + 1,
                "business_date": D,
                "step": "dpd1_sms",
                "target_type": "borrower",
                "target_id": f"B{n}",
                "channel": "sms",
                "template": "reminder_day1",
            }
            for n in range(cases)
        ],
    )


def _decided_alone(conn: Connection) -> dict[int, Decision]:
    """Each action decided on its own by the pure rules: what explain must tell."""
    sql = Dialect.of(conn)
    scope = SCOPE.format(d=sql.date_param("d"))
    pack = load_pack("cn")
    rows = conn.execute(dated(candidate_sql(sql, scope.replace("s.", "a.")), "d"), {"d": D}).all()
    k = load_counters(conn, D, pack, scope, {"d": D}, exclude=-1)
    out = {}
    for row in rows:
        c, h = candidate_of(row, k, D)
        out[row.id] = decide_waived(c, h, pack, day_start(D, c.timezone), set())
    return out


def _told(dec: Decision) -> list[dict[str, Any]]:
    return [
        {
            "rule": c.rule_id,
            "verdict": c.verdict.value,
            "until": c.violation.until.astimezone(UTC).isoformat()
            if c.violation and c.violation.until
            else None,
            "message": c.violation.message if c.violation else "no objection",
        }
        for c in dec.consulted
    ]


def _count(conn: Connection, table: Any) -> int:
    return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def test_a_night_of_alike_actions_writes_one_ruling_per_kind(db: Engine) -> None:
    with db.begin() as conn:
        _night(conn)
        alone = _decided_alone(conn)
        gated = gate_planned_actions(conn, D, "cn")
        rulings = _count(conn, gate_rulings)
        a = t.actions.c
        rows = conn.execute(
            select(a.id, a.status, gate_rulings.c.verdict)
            .join(gate_rulings, gate_rulings.c.id == a.ruling_id)
            .order_by(a.id)
        ).all()
        narrow = _count(conn, gate_decisions)
        stories = {a: explain(conn, a) for a in (min(alone), min(alone) + 1)}
        lines = report(conn, D, D)
    assert (gated.allowed, gated.blocked) == (CASES // 2, CASES // 2)
    assert rulings == 2
    # each action names the ruling it was planned under, and its status is that ruling's
    assert len(rows) == CASES and {a for a, _, _ in rows} == set(alone)
    assert all(STATUS[VerdictKind(ruled)] == status for _, status, ruled in rows)
    assert narrow == 0  # no row of its own for a decision at planning (migration 0032)
    for action_id, story in stories.items():
        dec = alone[action_id]
        (told,) = story.decisions
        assert (told["stage"], told["pack"], told["verdict"]) == ("plan", "cn", dec.verdict)
        assert (told["rule_id"], told["reason"]) == (dec.rule_id, dec.reason)
        assert told["rules"] == _told(dec)
        assert len(told["rules"]) > 15
    blocked = stories[min(alone) + 1].decisions[0]
    objections = {r["rule"]: r for r in blocked["rules"] if r["verdict"] != "allow"}
    assert {r: o["verdict"] for r, o in objections.items()} == {
        "cn.flag_dispute": "block",
        "cn.time_window": "defer",  # judged at the day's start: not before 08:00
    }
    assert objections["cn.time_window"]["until"] == "2026-01-16T00:00:00+00:00"
    assert all(o["message"] != "no objection" for o in objections.values())
    assert [(x.verdict, x.rule_id, x.count) for x in lines] == [
        ("allow", "-", CASES // 2),
        ("block", "cn.flag_dispute", CASES // 2),
    ]


def test_the_send_time_batch_shares_a_ruling_among_alike_decisions(db: Engine) -> None:
    at = datetime(2026, 1, 16, 2, tzinfo=UTC)  # 10:00 in Shanghai
    with db.begin() as conn:
        _night(conn, 40)
        ids = list(conn.scalars(select(t.actions.c.id)))
        decided = check_actions(conn, ids, at, rule_pack="cn")
        rulings = conn.execute(select(gate_rulings.c.stage, gate_rulings.c.verdict)).all()
        story = explain(conn, ids[1])
    assert len(decided) == 40 == len(set(ids))
    assert sorted(rulings) == [("send", "allow"), ("send", "block")]
    (told,) = story.decisions
    assert (told["stage"], told["judged_at"]) == ("send", at.isoformat())
    assert told["rules"] == _told(decided[ids[1]])


def test_a_deferred_action_is_carried_over_once_and_explained(db: Engine) -> None:
    yesterday = D - timedelta(days=1)
    moment = datetime(2026, 1, 16, 1, tzinfo=UTC)  # 09:00 in Shanghai, on D
    with db.begin() as conn:
        _night(conn, 1)
        conn.execute(
            insert(t.actions).values(
                case_id=1,
                business_date=yesterday,
                step="dpd0_call",
                target_type="borrower",
                target_id="B0",
                channel="call",
                template="call_borrower",
                status="deferred",
                scheduled_at=moment,
                rule_id="cn.time_window",
                reason="outside the hours",
            )
        )
        deferred = conn.scalar(select(t.actions.c.id).where(t.actions.c.status == "deferred"))
        assert deferred is not None
        first = gate_planned_actions(conn, D, "cn")
        again = gate_planned_actions(conn, D, "cn")
        story = explain(conn, deferred)
        carried = conn.execute(
            select(gate_decisions.c.stage, gate_decisions.c.business_date).where(
                gate_decisions.c.action_id == deferred
            )
        ).all()
    assert (first.carried_over, again.carried_over) == (1, 0)
    assert [(s, str(d)[:10]) for s, d in carried] == [("carry", yesterday.isoformat())]
    (told,) = story.decisions
    assert (told["stage"], told["pack"], told["verdict"]) == ("carry", "-", "defer")
    assert (told["scheduled_at"], told["rule_id"]) == (moment.isoformat(), "cn.time_window")
    assert told["reason"].startswith(f"carried over to {D} as action ")
    assert told["rules"] == []
