"""The port at dial time: the rule pack decides at the moment the call is placed (hours, per-day
caps, flags, contact rules), the decision is recorded, and a pack that cannot load refuses —
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Connection, Engine, func, insert, select

from arrears.compliance import loading, port
from arrears.compliance.port import RulePackUnavailable, VerdictKind, check_dial
from arrears.store import tables as t
from arrears.store.tables_compliance import borrower_flags, compliance_settings, gate_decisions
from tests import factories as f

D = date(2026, 1, 16)  # a Friday
NOON = datetime(2026, 1, 16, 4, tzinfo=UTC)  # 12:00 in Shanghai
NIGHT = datetime(2026, 1, 16, 15, tzinfo=UTC)  # 23:00 in Shanghai


def _case(conn: Connection, *, unreachable: bool = False) -> int:
    f.borrower(conn, "B1", phone="+8613800000001", timezone="Asia/Shanghai")
    f.contact(conn, "C1", "B1", phone="+8613900000001")
    conn.execute(
        insert(t.cases).values(
            id=1,
            borrower_id="B1",
            opened_on=D,
            currency="CNY",
            status="open",
            unreachable_on=D if unreachable else None,
        )
    )
    conn.execute(
        insert(t.run_log).values(business_date=D, step="run_day", finished_at=NOON, rows=1)
    )
    return 1


def _calls(conn: Connection, n: int, outcome: str = "no_answer") -> None:
    for _ in range(n):
        conn.execute(
            insert(t.interactions).values(
                case_id=1,
                occurred_at=NOON,
                business_date=D,
                channel="call",
                target_type="borrower",
                target_id="B1",
                outcome=outcome,
            )
        )


def _decisions(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(gate_decisions)) or 0)


def test_a_call_within_hours_is_allowed_and_recorded(db: Engine) -> None:
    with db.begin() as conn:
        _case(conn)
        v = check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NOON)
        assert v.allowed and v.kind is VerdictKind.ALLOW
        assert _decisions(conn) == 1
        stage = conn.scalar(select(gate_decisions.c.stage))
        assert stage == "dial"
        action = conn.execute(select(t.actions).where(t.actions.c.id == v.action_id)).one()
        assert (action.channel, action.target_type, action.status) == ("call", "borrower", "done")


def test_at_night_the_call_waits_for_the_window(db: Engine) -> None:
    with db.begin() as conn:
        _case(conn)
        v = check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NIGHT)
    assert not v.allowed and v.kind is VerdictKind.DEFER
    assert v.rule_id == "cn.time_window" and v.rule_name == "time_window"
    assert v.params["window"] == "08:00-22:00"
    assert v.next_allowed_at == datetime(2026, 1, 17, 0, tzinfo=UTC)  # 08:00 next day, Shanghai


def test_the_per_day_cap_counts_calls_made_since_the_night(db: Engine) -> None:
    with db.begin() as conn:
        _case(conn)
        _calls(conn, 5)
        assert check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NOON).allowed
        _calls(conn, 1)  # the sixth call of the day was made
        v = check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NOON)
    assert v.kind is VerdictKind.DEFER and v.rule_id == "cn.attempts_per_number_per_day"
    assert v.params["cap"] == "6"


def test_a_flag_blocks_the_call(db: Engine) -> None:
    with db.begin() as conn:
        _case(conn)
        conn.execute(
            insert(borrower_flags).values(
                borrower_id="B1", flag="cease", since=D, set_by="officer", set_at=NOON
            )
        )
        v = check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NOON)
        status = conn.scalar(select(t.actions.c.status).where(t.actions.c.id == v.action_id))
    assert v.kind is VerdictKind.BLOCK and v.rule_id == "cn.flag_cease"
    assert status == "blocked"


def test_a_contact_is_called_only_when_the_borrower_cannot_be_reached(db: Engine) -> None:
    with db.begin() as conn:
        _case(conn)
        v = check_dial(conn, case_id=1, target="contact", contact_id="C1", at=NOON)
        assert v.kind is VerdictKind.BLOCK and v.rule_id == "cn.contact_only_when_unreachable"
        conn.execute(t.cases.update().values(unreachable_on=D))
        assert check_dial(conn, case_id=1, target="contact", contact_id="C1", at=NOON).allowed


def test_a_preview_leaves_no_trace(db: Engine) -> None:
    with db.begin() as conn:
        _case(conn)
        v = check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NIGHT, record=False)
        assert v.kind is VerdictKind.DEFER and v.action_id is None
        assert _decisions(conn) == 0
        assert conn.scalar(select(func.count()).select_from(t.actions)) == 0


def test_the_days_planned_call_is_the_one_judged(db: Engine) -> None:
    with db.begin() as conn:
        _case(conn)
        planned = conn.execute(
            insert(t.actions)
            .values(
                case_id=1,
                business_date=D,
                step="dpd1_call",
                target_type="borrower",
                target_id="B1",
                channel="call",
                template="call_borrower",
                status="planned",
                scheduled_at=NOON,
            )
            .returning(t.actions.c.id)
        ).scalar_one()
        v = check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NOON)
        assert v.allowed and v.action_id == planned
        assert conn.scalar(select(func.count()).select_from(t.actions)) == 1


def test_a_contact_of_another_borrower_is_refused(db: Engine) -> None:
    with db.begin() as conn:
        _case(conn)
        f.borrower(conn, "B2", phone="+8613800000002")
        f.contact(conn, "C2", "B2", phone="+8613900000002")
        with pytest.raises(port.DialTargetUnknown):
            check_dial(conn, case_id=1, target="contact", contact_id="C2", at=NOON)


def test_cannot_load_the_pack_refuses_the_dial(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with db.begin() as conn:
        _case(conn)
        conn.execute(
            insert(compliance_settings).values(
                key="rule_pack", value="atlantis", changed_by="officer", changed_at=NOON
            )
        )
        with pytest.raises(RulePackUnavailable, match="atlantis"):
            check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NOON)
        assert conn.scalar(select(func.count()).select_from(t.actions)) == 0


def test_a_broken_pack_module_refuses(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(code: str) -> object:
        raise ImportError("No module named 'arrears.compliance.rules.packs'")

    monkeypatch.setattr(loading, "_get_pack", broken)
    with db.begin() as conn:
        _case(conn)
        with pytest.raises(RulePackUnavailable, match="No module named"):
            check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NOON)
        assert _decisions(conn) == 0


def test_a_closed_case_is_not_called(db: Engine) -> None:
    with db.begin() as conn:
        _case(conn)
        conn.execute(t.cases.update().values(status="cured", closed_on=D))
        v = check_dial(conn, case_id=1, target="borrower", contact_id=None, at=NOON)
        assert v.kind is VerdictKind.BLOCK and v.params == {"status": "cured"}
        assert conn.scalar(select(func.count()).select_from(t.actions)) == 0
