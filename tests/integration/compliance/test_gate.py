"""The gate over the database, on SQLite and PostgreSQL: the day's planned actions are allowed
(scheduled in the recipient's morning), deferred or blocked, and the seed's day-one story holds:
the contact is reached only once the borrower is unreachable."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, insert, select

from arrears.compliance.batch import gate_planned_actions
from arrears.compliance.officer import explain, report
from arrears.compliance.send import check_action, request_outreach
from arrears.engine.run_day import run_day
from arrears.services.outcomes import record_outcome
from arrears.store import tables as t
from arrears.store.tables_compliance import borrower_flags
from tests import factories as f

D = date(2026, 1, 16)  # day one overdue (due 15 January)
DUE = [date(2026, 1, 15), date(2026, 2, 15)]


def _day_one(db: Engine, **borrower: object) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1", **borrower)
        f.contact(conn, "C1", "B1")
        f.account(conn, "A1", "B1", [(d, 10000, 500) for d in DUE])


def _run(db: Engine, day: date = D) -> None:
    run_day(db, day, gate=gate_planned_actions, rule_pack="cn")


def _actions(conn: Connection) -> dict[str, tuple[str, datetime | None, str | None]]:
    rows = conn.execute(
        select(t.actions.c.step, t.actions.c.status, t.actions.c.scheduled_at, t.actions.c.rule_id)
    ).all()
    return {r.step: (r.status, _utc(r.scheduled_at), r.rule_id) for r in rows}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_day_one_is_scheduled_at_eight_in_the_borrowers_morning(db: Engine) -> None:
    _day_one(db, timezone="America/New_York")
    _run(db)
    with db.connect() as conn:
        acts = _actions(conn)
        # 08:00 in New York in January is 13:00 UTC, whatever the server's zone
        assert acts["dpd1_sms"] == ("queued", datetime(2026, 1, 16, 13, tzinfo=UTC), None)
        assert acts["dpd1_call"] == ("planned", datetime(2026, 1, 16, 13, tzinfo=UTC), None)
        outbox = conn.execute(select(t.outbox.c.not_before)).scalar_one()
        assert _utc(outbox) == datetime(2026, 1, 16, 13, tzinfo=UTC)


def test_contact_is_reached_only_once_the_borrower_is_unreachable(db: Engine) -> None:
    _day_one(db)
    _run(db)
    with db.begin() as conn:
        # an agent tries the contact before the borrower: the same gate blocks it
        _, early = request_outreach(
            conn,
            case_id=1,
            target_type="contact",
            target_id="C1",
            channel="call",
            template="call_contact",
            at=datetime(2026, 1, 16, 1, tzinfo=UTC),
            business_date=D,
            agent="agent",
        )
        assert (early.verdict, early.rule_id) == ("block", "cn.contact_only_when_unreachable")
    with db.begin() as conn:
        call = conn.execute(
            select(t.actions.c.id).where(t.actions.c.step == "dpd1_call")
        ).scalar_one()
        result = record_outcome(
            conn,
            case_id=1,
            target_type="borrower",
            target_id="B1",
            channel="call",
            outcome="no_answer",
            at=datetime(2026, 1, 16, 2, tzinfo=UTC),
            business_date=D,
            agent="agent",
            action_id=call,
            gate=gate_planned_actions,
            rule_pack="cn",
        )
        assert result.borrower_unreachable
        status, at, rule = _actions(conn)["contact_call"]
        assert (status, rule) == ("planned", None)
        assert at == datetime(2026, 1, 16, 0, tzinfo=UTC)  # 08:00 in Shanghai


def test_refused_contact_and_opted_out_number_are_blocked(db: Engine) -> None:
    _day_one(db, phone_status="wrong")
    with db.begin() as conn:
        f.contact(conn, "C2", "B1", status="refused", phone="+8613900000003")
        conn.execute(
            insert(t.metadata.tables["comm_suppressions"]).values(
                channel="sms",
                address_index=f.RING.blind_index("+8613800000001"),
                reason="opt_out",
                created_at=datetime(2026, 1, 10, tzinfo=UTC),
            )
        )
        conn.execute(
            t.cases.insert().values(
                borrower_id="B1", opened_on=D, currency="CNY", status="open", unreachable_on=D
            )
        )
        for cid in ("C1", "C2"):
            conn.execute(
                insert(t.actions).values(
                    case_id=1,
                    business_date=D,
                    step="contact_call",
                    target_type="contact",
                    target_id=cid,
                    channel="call",
                    template="call_contact",
                )
            )
        conn.execute(
            insert(t.actions).values(
                case_id=1,
                business_date=D,
                step="dpd1_sms",
                target_type="borrower",
                target_id="B1",
                channel="sms",
                template="reminder_day1",
            )
        )
        gate = gate_planned_actions(conn, D, "cn")
        rows = {
            (r.step, r.target_id): (r.status, r.rule_id) for r in conn.execute(select(t.actions))
        }
    assert rows[("contact_call", "C1")] == ("planned", None)
    assert rows[("contact_call", "C2")] == ("blocked", "cn.contact_refused")
    assert rows[("dpd1_sms", "B1")] == ("blocked", "cn.opt_out")
    assert gate.by_rule == {"block cn.contact_refused": 1, "block cn.opt_out": 1}


def test_seventh_attempt_on_a_number_waits_for_tomorrow(db: Engine) -> None:
    _day_one(db)
    with db.begin() as conn:
        conn.execute(
            t.cases.insert().values(borrower_id="B1", opened_on=D, currency="CNY", status="open")
        )
        for n in range(6):
            conn.execute(
                insert(t.interactions).values(
                    case_id=1,
                    occurred_at=datetime(2026, 1, 16, 1, n, tzinfo=UTC),
                    business_date=D,
                    channel="call",
                    target_type="borrower",
                    target_id="B1",
                    outcome="no_answer",
                )
            )
        conn.execute(
            insert(t.actions).values(
                case_id=1,
                business_date=D,
                step="dpd1_call",
                target_type="borrower",
                target_id="B1",
                channel="call",
                template="call_borrower",
            )
        )
        gate_planned_actions(conn, D, "cn")
        status, at, rule = _actions(conn)["dpd1_call"]
    assert (status, rule) == ("deferred", "cn.attempts_per_number_per_day")
    assert at == datetime(2026, 1, 17, 0, tzinfo=UTC)  # tomorrow 08:00 Shanghai


def test_send_time_check_sees_the_clock_and_new_flags(db: Engine) -> None:
    _day_one(db)
    _run(db)
    with db.begin() as conn:
        call = conn.execute(
            select(t.actions.c.id).where(t.actions.c.step == "dpd1_call")
        ).scalar_one()
        # 21:59 Shanghai: allowed; 22:00: deferred to 08:00 next morning
        assert (
            check_action(conn, call, datetime(2026, 1, 16, 13, 59, tzinfo=UTC)).verdict == "allow"
        )
        late = check_action(conn, call, datetime(2026, 1, 16, 14, 0, tzinfo=UTC))
        assert (late.verdict, late.rule_id) == ("defer", "cn.time_window")
        assert late.at == datetime(2026, 1, 17, 0, tzinfo=UTC)
        conn.execute(
            insert(borrower_flags).values(
                borrower_id="B1",
                flag="cease",
                since=D,
                set_by="compliance",
                set_at=datetime(2026, 1, 16, 3, tzinfo=UTC),
            )
        )
        ceased = check_action(conn, call, datetime(2026, 1, 16, 4, tzinfo=UTC))
        assert (ceased.verdict, ceased.rule_id) == ("block", "cn.flag_cease")
        story = explain(conn, call)
    assert [d["stage"] for d in story.decisions] == ["plan", "send", "send", "send"]
    rules = {r["rule"]: r["verdict"] for r in story.decisions[-1]["rules"]}
    assert rules["cn.flag_cease"] == "block" and rules["cn.time_window"] == "allow"
    assert len(rules) > 15


def test_report_counts_decisions_by_rule(db: Engine) -> None:
    test_seventh_attempt_on_a_number_waits_for_tomorrow(db)
    with db.connect() as conn:
        lines = report(conn, D, D)
    assert [(x.verdict, x.rule_id, x.count) for x in lines] == [
        ("defer", "cn.attempts_per_number_per_day", 1)
    ]
