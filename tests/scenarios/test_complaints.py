"""Complaints and vulnerable borrowers, date by date, through the daily run and the real gate
(SQLite and PostgreSQL).

1. Day 1 a borrower complains by phone and asks that we stop while it is looked at: the next
   runs plan the strategy's steps and the gate blocks every one of them with the complaint
   rule; day 5 the complaint is answered and closed; day 7 collection resumes.
2. A complaint not answered within the pack's days is overdue (15 days under cn, 8 weeks under
   uk), listed first; the report's figures.
3. A vulnerable borrower's case moves to the specialist queue at the next run; the automated
   outreach stays blocked; a specialist's outreach by hand passes, or is blocked as the pack
   says (a contact the borrower is reachable without, a holiday call deferred).
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import Connection, Engine, select

from arrears.compliance.batch import gate_planned_actions
from arrears.compliance.officer import lift_flag, map_jurisdiction, set_flag
from arrears.compliance.port import check_sends
from arrears.compliance.send import request_outreach
from arrears.engine.run_day import run_day
from arrears.privacy.keyring import KeyRing
from arrears.services import complaints as svc
from arrears.services.users import add_team, add_user
from arrears.store import tables as t
from arrears.store.tables_compliance import audit_log, borrower_flags
from tests import factories as f

DUE = date(2026, 3, 15)
DAY = {n: DUE + timedelta(days=n) for n in range(1, 80)}  # DAY[1] is a Monday


def _at(d: date, hour: int = 6) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=UTC)


def _night(db: Engine, d: date) -> None:
    run_day(db, d, gate=gate_planned_actions, rule_pack="cn")


def _actions(conn: Connection, d: date, borrower: str) -> dict[str, tuple[str, str | None]]:
    a = t.actions.c
    rows = conn.execute(
        select(a.step, a.status, a.rule_id)
        .join(t.cases, t.cases.c.id == a.case_id)
        .where(a.business_date == d, t.cases.c.borrower_id == borrower)
    ).all()
    return {r.step: (r.status, r.rule_id) for r in rows}


def _case(conn: Connection, borrower: str) -> int:
    return int(
        conn.execute(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower)).scalar_one()
    )


def _people(conn: Connection) -> None:
    add_team(conn, "care", "Specialist care", ["specialist"])
    add_team(conn, "floor", "Early collections", ["early"])
    for name, role, team in (
        ("lead1", "team_lead", "floor"),
        ("officer1", "compliance", None),
        ("spec1", "agent", "care"),
        ("agent1", "agent", "floor"),
    ):
        add_user(conn, name, "x" * 12, role, team_id=team, password_hash="unused")


def _book(conn: Connection) -> None:
    _people(conn)
    f.borrower(conn, "B1", phone="+8613800000001", jurisdiction="CN")
    f.contact(conn, "C1", "B1", phone="+8613900000001")
    f.account(conn, "A1", "B1", [(DUE, 100000, 3000)])
    f.borrower(conn, "B2", phone="+8613800000002", jurisdiction="CN")
    f.account(conn, "A2", "B2", [(DUE, 100000, 3000)])


def _audited(conn: Connection, complaint_id: int) -> list[str]:
    rows = conn.execute(
        select(audit_log.c.detail).where(audit_log.c.kind == "complaint").order_by(audit_log.c.seq)
    ).scalars()
    return [
        d.split('"action": "')[1].split('"')[0]
        for d in rows
        if f'"complaint": {complaint_id},' in d
    ]


def test_a_complaint_pauses_outreach_until_it_is_closed(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        _book(conn)
    _night(db, DAY[1])
    with db.begin() as conn:
        assert _actions(conn, DAY[1], "B1")["dpd1_sms"] == ("queued", None)
        sms = conn.execute(
            select(t.actions.c.id).where(
                t.actions.c.step == "dpd1_sms", t.actions.c.case_id == _case(conn, "B1")
            )
        ).scalar_one()
        # day 1: the borrower rings to complain about the calls, and asks us to stop meanwhile
        c = svc.receive_complaint(
            conn,
            keyring,
            channel="phone",
            category="contact_frequency",
            on=DAY[1],
            by="agent1",
            at=_at(DAY[1], 3),
            summary="Says he was called four times before nine",
            borrower_id="B1",
            pause_outreach=True,
        )
        assert (c.status, c.case_id, c.due_on) == ("open", _case(conn, "B1"), DAY[16])
        assert c.summary == "Says he was called four times before nine"
        stored = conn.execute(select(svc.complaints.c.summary_enc)).scalar_one()
        assert b"four times" not in stored  # encrypted at rest
        # the message queued this morning is refused at send time by the same gate
        assert check_sends(conn, [sms], _at(DAY[1], 4))[sms].rule_id == "cn.flag_complaint"

    # day 3: the strategy's day-3 reminder and call are planned, and blocked by the gate
    _night(db, DAY[3])
    with db.begin() as conn:
        paused = _actions(conn, DAY[3], "B1")
        assert set(paused) == {"dpd_reminder_3", "dpd_call_3"}
        assert set(paused.values()) == {("blocked", "cn.flag_complaint")}
        # the other borrower is worked as usual
        assert _actions(conn, DAY[3], "B2")["dpd_call_3"] == ("planned", None)
        svc.assign_complaint(conn, keyring, c.id, owner="officer1", by="lead1", at=_at(DAY[3]))
        with pytest.raises(svc.ComplaintStateWrong, match="answer it first"):
            svc.close_complaint(conn, keyring, c.id, on=DAY[3], by="officer1", at=_at(DAY[3]))

    # day 5: answered and closed; the pause is lifted
    with db.begin() as conn:
        answered = svc.answer_complaint(
            conn,
            keyring,
            c.id,
            response="Calls limited to one a day; apology sent",
            outcome="upheld",
            on=DAY[5],
            by="officer1",
            at=_at(DAY[5]),
        )
        assert (answered.status, answered.days_to_answer(), answered.owner) == (
            "answered",
            4,
            "officer1",
        )
        svc.close_complaint(conn, keyring, c.id, on=DAY[5], by="officer1", at=_at(DAY[5], 7))
        flag = conn.execute(
            select(borrower_flags.c.lifted_on).where(borrower_flags.c.flag == "complaint")
        ).scalar_one()
        assert flag == DAY[5]
        assert _audited(conn, c.id) == ["receive", "assign", "answer", "close"]

    # day 7: collection resumes with the strategy's day-7 steps
    _night(db, DAY[7])
    with db.begin() as conn:
        resumed = _actions(conn, DAY[7], "B1")
        assert resumed["dpd_call_7"] == ("planned", None)
        assert all(status != "blocked" for status, _ in resumed.values())


def test_a_complaint_without_pause_leaves_outreach_alone(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        _book(conn)
    _night(db, DAY[1])
    with db.begin() as conn:
        svc.receive_complaint(
            conn,
            keyring,
            channel="letter",
            category="amount_disputed",
            on=DAY[1],
            by="officer1",
            at=_at(DAY[1]),
            summary="Penalty too high",
            borrower_id="B1",
        )
    _night(db, DAY[3])
    with db.begin() as conn:
        assert _actions(conn, DAY[3], "B1")["dpd_call_3"] == ("planned", None)


def test_overdue_complaints_and_the_report(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        _book(conn)
        f.borrower(conn, "G1", phone="+447700900001", jurisdiction="GB", timezone="Europe/London")
        map_jurisdiction(
            conn, keyring, pattern="GB", pack="uk", by="officer1", reason="UK", at=_at(DUE)
        )

        def receive(borrower: str, on: date, channel: str, category: str) -> int:
            return svc.receive_complaint(
                conn,
                keyring,
                channel=channel,
                category=category,
                on=on,
                by="officer1",
                at=_at(on),
                summary="text",
                borrower_id=borrower,
            ).id

        a = receive("B1", date(2026, 3, 2), "phone", "conduct")  # due 17 Mar
        b = receive("B2", date(2026, 3, 10), "email", "conduct")  # due 25 Mar
        g = receive("G1", date(2026, 3, 2), "regulator", "third_party_disclosure")  # 27 Apr
        d = receive("B2", date(2026, 4, 1), "web", "other")  # due 16 Apr
        assert svc.get_complaint(conn, keyring, g).due_on == date(2026, 4, 27)  # 8 weeks
        # b answered in 6 days; a answered late, 20 days after receipt
        for cid, on in ((b, date(2026, 3, 16)), (a, date(2026, 3, 22))):
            svc.answer_complaint(
                conn,
                keyring,
                cid,
                response="r",
                outcome="rejected",
                on=on,
                by="officer1",
                at=_at(on),
            )
        on = date(2026, 4, 20)
        listed = svc.list_complaints(conn, keyring, on=on)
        # overdue first (d: past its 15 days), then the open ones by due date, then the rest
        assert [x.id for x in listed] == [d, g, a, b]
        assert [x.overdue(on) for x in listed] == [True, False, False, False]
        assert [x.id for x in svc.list_complaints(conn, keyring, on=on, overdue_only=True)] == [d]
        # on 28 Apr the UK one is overdue too
        assert {
            x.id
            for x in svc.list_complaints(conn, keyring, on=date(2026, 4, 28), overdue_only=True)
        } == {d, g}

        r = svc.complaint_report(conn, on=on)
        assert (r.total, r.open, r.overdue, r.answered, r.answered_late) == (4, 2, 1, 2, 1)
        assert r.by_category == {"conduct": 2, "third_party_disclosure": 1, "other": 1}
        assert r.by_channel == {"phone": 1, "email": 1, "web": 1, "regulator": 1}
        assert r.by_outcome == {"rejected": 2}
        assert r.median_days_to_answer == 13.0  # 6 and 20 days
        march, april = r.by_month
        assert (march.month, march.received, march.answered, march.answered_late) == (
            "2026-03",
            3,
            2,
            1,
        )
        assert march.median_days_to_answer == 13.0
        assert (april.month, april.received, april.answered, april.median_days_to_answer) == (
            "2026-04",
            1,
            0,
            None,
        )
        # bad input names what is wrong and writes nothing
        with pytest.raises(svc.ComplaintValueUnknown, match="category 'rude'"):
            receive("B1", on, "phone", "rude")
        with pytest.raises(svc.ComplaintOwnerUnknown):
            svc.assign_complaint(conn, keyring, d, owner="nobody", by="lead1", at=_at(on))
        assert svc.complaint_report(conn, on=on).total == 4


def test_a_vulnerable_borrower_goes_to_the_specialist(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        _book(conn)
    _night(db, DAY[1])
    with db.begin() as conn:
        case = _case(conn, "B1")
        conn.execute(t.cases.update().where(t.cases.c.id == case).values(assigned_to="agent1"))
        set_flag(
            conn,
            keyring,
            borrower_id="B1",
            flag="vulnerability",
            since=DAY[2],
            by="officer1",
            at=_at(DAY[1], 9),
        )
    # day 3: the case moves to the specialist queue, unassigned from the floor's agent; the
    # strategy's automated reminder and call are blocked
    _night(db, DAY[3])
    with db.begin() as conn:
        queue, who = conn.execute(
            select(t.cases.c.queue, t.cases.c.assigned_to).where(t.cases.c.id == case)
        ).one()
        assert (queue, who) == ("specialist", None)
        assert (
            conn.execute(select(t.cases.c.queue).where(t.cases.c.borrower_id == "B2")).scalar()
            == "early"
        )
        assert set(_actions(conn, DAY[3], "B1").values()) == {("blocked", "cn.flag_vulnerability")}
        conn.execute(t.cases.update().where(t.cases.c.id == case).values(assigned_to="spec1"))

        def ask(target: str, hour: int) -> tuple[str, str | None]:
            """The specialist asks the gate for a call to the borrower or contact C1."""
            _, d = request_outreach(
                conn,
                case_id=case,
                target_type=target,
                target_id="B1" if target == "borrower" else "C1",
                channel="call",
                template=f"call_{target}",
                at=_at(DAY[3], hour),
                business_date=DAY[3],
                agent="spec1",
            )
            return d.verdict, d.rule_id

        # the specialist calls the borrower by hand, in the morning: allowed
        assert ask("borrower", 2) == ("allow", None)
        # ... but not the contact while the borrower is reachable: the pack's rule still holds
        assert ask("contact", 2) == ("block", "cn.contact_only_when_unreachable")
        # ... and at 23:00 Shanghai time it waits for the morning
        assert ask("borrower", 15) == ("defer", "cn.time_window")
    # day 4: the specialist keeps the case
    _night(db, DAY[4])
    with db.begin() as conn:
        assert conn.execute(
            select(t.cases.c.queue, t.cases.c.assigned_to).where(t.cases.c.id == case)
        ).one() == ("specialist", "spec1")
        lift_flag(
            conn,
            keyring,
            borrower_id="B1",
            flag="vulnerability",
            on=DAY[6],
            by="officer1",
            at=_at(DAY[6]),
        )
    # day 7: the flag lifted, the strategy's queue applies again
    _night(db, DAY[7])
    with db.begin() as conn:
        assert conn.execute(select(t.cases.c.queue).where(t.cases.c.id == case)).scalar() == "early"
        assert _actions(conn, DAY[7], "B1")["dpd_call_7"] == ("planned", None)
