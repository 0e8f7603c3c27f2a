"""The batch send-time check decides exactly what the one-action check decides, one by one, over
a mixed batch (calls sharing a number and a debt, flags, opt-outs, preferences, contacts,
overrides, holidays, another business date) — on SQLite and PostgreSQL, under every pack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, insert, select

from arrears.compliance.rules.model import VerdictKind
from arrears.compliance.send import check_action, check_actions
from arrears.store import tables as t
from arrears.store.tables_comms import comm_suppressions
from arrears.store.tables_compliance import (
    borrower_flags,
    compliance_holidays,
    compliance_overrides,
    contact_preferences,
    gate_decisions,
)
from tests import factories as f

D = date(2026, 1, 16)  # a Friday
AT = datetime(2026, 1, 16, 2, tzinfo=UTC)  # 10:00 in Shanghai, 21:00 the day before in New York


@dataclass(frozen=True)
class Row:
    name: str
    channel: str = "sms"
    target: str = "borrower"
    timezone: str = "Asia/Shanghai"
    actions: int = 1  # actions of the case in the batch, same channel and target
    calls_today: int = 0  # unanswered calls to the borrower's number today
    connected_today: int = 0
    calls_earlier: int = 0  # unanswered calls three days ago
    conversation_days_ago: int | None = None
    flag: str | None = None
    opted_out: str | None = None  # channel the borrower's number opted out of
    inconvenient: str = ""
    refused_channels: str = ""
    contact_phone: str | None = None  # the contact's number, when not a number of its own
    contact_calls_today: int = 0
    contact_status: str = "active"
    contact_consent: bool = True
    unreachable: bool = False
    override: str | None = None  # rule (without the pack) waived for the case's actions
    business_date: date = D
    gated: bool = True  # planned with a scheduled time, as the nightly gate leaves it


TABLE = [
    Row("sms"),
    Row("call", channel="call"),
    Row("two calls, four made today", channel="call", actions=2, calls_today=4),
    Row("two calls, five made today", channel="call", actions=2, calls_today=5),
    Row("two calls, not yet gated", channel="call", actions=2, calls_today=5, gated=False),
    Row("three connected calls today", channel="call", connected_today=3),
    Row("one connected call today", channel="call", connected_today=1),
    Row("disputed", flag="dispute"),
    Row("breathing space", channel="call", flag="breathing_space"),
    Row("opted out of sms", opted_out="sms"),
    Row("opted out of sms, called", channel="call", opted_out="sms"),
    Row("inconvenient now", channel="call", inconvenient="09:00-12:00"),
    Row("refuses calls", channel="call", refused_channels="call"),
    Row("evening in New York", channel="call", timezone="America/New_York"),
    Row("contact, borrower reachable", channel="call", target="contact"),
    Row("contact, borrower unreachable", channel="call", target="contact", unreachable=True),
    Row(
        "contact on a busy number",  # the number of "two calls, five made today"
        channel="call",
        target="contact",
        unreachable=True,
        contact_phone="+8613800000004",
    ),
    Row(
        "contact called four times",
        channel="call",
        target="contact",
        unreachable=True,
        contact_calls_today=4,
        actions=2,
    ),
    Row(
        "contact called five times",
        channel="call",
        target="contact",
        unreachable=True,
        contact_calls_today=5,
        actions=2,
    ),
    Row("contact refused", target="contact", contact_status="refused", unreachable=True),
    Row("contact without consent", target="contact", contact_consent=False, unreachable=True),
    Row("two calls, five this week", channel="call", actions=2, calls_earlier=5),
    Row("two calls, six this week", channel="call", actions=2, calls_earlier=6),
    Row("conversation three days ago", channel="call", conversation_days_ago=3),
    Row("yesterday's call", channel="call", business_date=D - timedelta(days=1)),
    Row("overridden cap", channel="call", connected_today=3, override="connected_calls_per_day"),
    Row("email", channel="email"),
]

# a few outcomes that show the table means what it says (the rest: whatever check_action says)
EXPECTED = {
    "cn": {
        "two calls, four made today": ("allow", None),
        "two calls, five made today": ("defer", "cn.attempts_per_number_per_day"),
        "two calls, not yet gated": ("allow", None),
        "three connected calls today": ("defer", "cn.connected_calls_per_day"),
        "disputed": ("block", "cn.flag_dispute"),
        "opted out of sms": ("block", "cn.opt_out"),
        "opted out of sms, called": ("allow", None),
        "contact, borrower reachable": ("block", "cn.contact_only_when_unreachable"),
        "contact, borrower unreachable": ("allow", None),
        "contact refused": ("block", "cn.contact_refused"),
        "contact on a busy number": ("defer", "cn.attempts_per_number_per_day"),
        "contact called four times": ("allow", None),
        "contact called five times": ("defer", "cn.attempts_per_number_per_day"),
        "overridden cap": ("allow", None),
    },
    "us": {
        "two calls, five this week": ("allow", None),
        "two calls, six this week": ("defer", "us.attempts_per_debt_7_days"),
        "conversation three days ago": ("defer", "us.quiet_after_conversation"),
    },
    "uk": {
        "one connected call today": ("defer", "uk.connected_calls_per_day"),
        "breathing space": ("defer", "uk.flag_breathing_space"),
    },
}


def _call(conn: Connection, case_id: int, bid: str, day: date, outcome: str) -> None:
    conn.execute(
        insert(t.interactions).values(
            case_id=case_id,
            occurred_at=datetime.combine(day, datetime.min.time(), tzinfo=UTC),
            business_date=day,
            channel="call",
            target_type="borrower",
            target_id=bid,
            outcome=outcome,
        )
    )


def build(conn: Connection, pack: str) -> dict[int, str]:
    """The table's borrowers, cases, history and actions; returns action id -> row name."""
    names: dict[int, str] = {}
    conn.execute(
        insert(compliance_holidays).values(pack=pack, day=D + timedelta(days=1), name="test")
    )
    for i, row in enumerate(TABLE, start=1):
        bid, phone = f"B{i}", f"+86138{i:08d}"
        f.borrower(conn, bid, phone=phone, timezone=row.timezone)
        f.contact(
            conn,
            f"C{i}",
            bid,
            phone=row.contact_phone or f"+86139{i:08d}",
            status=row.contact_status,
            consent=row.contact_consent,
        )
        conn.execute(
            insert(t.cases).values(
                id=i,
                borrower_id=bid,
                opened_on=D - timedelta(days=10),
                currency="CNY",
                status="open",
                unreachable_on=D if row.unreachable else None,
            )
        )
        # the validation notice (US) went out when the case opened: collection may go on
        conn.execute(
            insert(t.actions).values(
                case_id=i,
                business_date=D - timedelta(days=10),
                step="validation_notice",
                target_type="borrower",
                target_id=bid,
                channel="email",
                template="validation_notice",
                status="sent",
            )
        )
        for _ in range(row.calls_today):
            _call(conn, i, bid, D, "no_answer")
        for _ in range(row.connected_today):
            _call(conn, i, bid, D, "right_party")
        for _ in range(row.contact_calls_today):
            conn.execute(
                insert(t.interactions).values(
                    case_id=i,
                    occurred_at=AT,
                    business_date=D,
                    channel="call",
                    target_type="contact",
                    target_id=f"C{i}",
                    outcome="no_answer",
                )
            )
        for _ in range(row.calls_earlier):
            _call(conn, i, bid, D - timedelta(days=3), "no_answer")
        if row.conversation_days_ago is not None:
            _call(conn, i, bid, D - timedelta(days=row.conversation_days_ago), "right_party")
        if row.flag:
            conn.execute(
                insert(borrower_flags).values(
                    borrower_id=bid,
                    flag=row.flag,
                    since=D - timedelta(days=2),
                    until=D + timedelta(days=30) if row.flag == "breathing_space" else None,
                    set_by="test",
                    set_at=AT,
                )
            )
        if row.opted_out:
            conn.execute(
                insert(comm_suppressions).values(
                    channel=row.opted_out,
                    address_index=f.RING.blind_index(phone),
                    reason="opt_out",
                    created_at=AT,
                )
            )
        if row.inconvenient or row.refused_channels:
            conn.execute(
                insert(contact_preferences).values(
                    borrower_id=bid,
                    inconvenient_hours=row.inconvenient,
                    refused_channels=row.refused_channels,
                    updated_on=D,
                    updated_by="test",
                )
            )
        target = bid if row.target == "borrower" else f"C{i}"
        template = {
            ("call", "borrower"): "call_borrower",
            ("call", "contact"): "call_contact",
            ("sms", "contact"): "contact_callback",
        }.get((row.channel, row.target), "reminder_day1")
        for n in range(row.actions):
            action_id = conn.execute(
                insert(t.actions)
                .values(
                    case_id=i,
                    business_date=row.business_date,
                    step=f"step_{n}",
                    target_type=row.target,
                    target_id=target,
                    channel=row.channel,
                    template=template,
                    status="planned",
                    scheduled_at=AT - timedelta(hours=1) if row.gated else None,
                )
                .returning(t.actions.c.id)
            ).scalar_one()
            names[action_id] = row.name
            if row.override:
                conn.execute(
                    insert(compliance_overrides).values(
                        action_id=action_id,
                        rule_id=f"{pack}.{row.override}",
                        reason="agreed with the borrower on the phone",
                        by="officer",
                        at=AT,
                    )
                )
    return names


@pytest.mark.parametrize("pack", ["cn", "us", "uk"])
def test_batch_decides_what_one_by_one_decides(db: Engine, pack: str) -> None:
    with db.begin() as conn:
        names = build(conn, pack)
        one_by_one = {a: check_action(conn, a, AT, rule_pack=pack) for a in names}
        batch = check_actions(conn, [*reversed(names), 999_999], AT, rule_pack=pack)
    assert set(batch) == set(names)  # an id that names no action is left out
    for action_id, name in names.items():
        assert batch[action_id] == one_by_one[action_id], name
    verdicts = {d.verdict for d in batch.values()}
    assert verdicts == {VerdictKind.ALLOW, VerdictKind.DEFER, VerdictKind.BLOCK}
    for name, (verdict, rule) in EXPECTED[pack].items():
        for action_id in (a for a, n in names.items() if n == name):
            decision = batch[action_id]
            assert (decision.verdict.value, decision.rule_id) == (verdict, rule), name


def test_batch_records_one_send_decision_per_action(db: Engine) -> None:
    with db.begin() as conn:
        names = build(conn, "cn")
        assert check_actions(conn, [], AT, rule_pack="cn") == {}
        check_actions(conn, list(names), AT, rule_pack="cn")
        rows = conn.execute(select(gate_decisions.c.action_id, gate_decisions.c.stage)).all()
    assert sorted(r.action_id for r in rows) == sorted(names)
    assert {r.stage for r in rows} == {"send"}
