"""The nightly gate decides a kind of candidate once, looking rows up by the values they are made
of: every action must get what deciding it on its own gives — in the night's order, with the
calls allowed before it counted — on SQLite and PostgreSQL. The night mixes what changes a
decision: eight borrowers sharing one number (the seventh call on it waits), a second time zone,
a borrower in dispute, a wrong number, contacts with and without consent, and an override."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from arrears.compliance.batch import gate_planned_actions
from arrears.compliance.history import (
    candidate_of,
    candidate_sql,
    count_allowed,
    decide_waived,
    load_counters,
    overrides_of,
)
from arrears.compliance.loading import load_pack
from arrears.compliance.rules.clock import day_start
from arrears.store import tables as t
from arrears.store.sql import Dialect, dated
from arrears.store.tables_compliance import borrower_flags, gate_rulings
from tests import factories as f

D = date(2026, 1, 16)
SCOPE = "s.business_date = {d} AND s.status = 'planned' AND s.scheduled_at IS NULL"


def _night(conn: Connection) -> None:
    for n in range(12):
        bid = f"B{n}"
        kw: dict[str, Any] = {}
        if n >= 8:  # numbers of their own; the first eight share one
            kw["phone"] = f"+86138000001{n:02d}"
        if n == 9:
            kw["timezone"] = "Asia/Urumqi"
        if n == 10:
            kw["phone_status"] = "wrong"
        f.borrower(conn, bid, **kw)
        conn.execute(
            insert(t.cases).values(
                id=n + 1,
                borrower_id=bid,
                opened_on=D,
                currency="CNY",
                status="open",
                unreachable_on=D if n in (4, 5) else None,
            )
        )
        actions = [("dpd1_call", "borrower", bid, "call", "call_borrower")]
        actions.append(("dpd1_sms", "borrower", bid, "sms", "reminder_day1"))
        if n in (4, 5, 6):  # a contact with consent, one without, one of a reachable borrower
            f.contact(conn, f"C{n}", bid, consent=n != 5, phone=f"+86139000000{n:02d}")
            actions.append(("contact_call", "contact", f"C{n}", "call", "call_contact"))
        for step, audience, target, channel, template in actions:
            conn.execute(
                insert(t.actions).values(
                    case_id=n + 1,
                    business_date=D,
                    step=step,
                    target_type=audience,
                    target_id=target,
                    channel=channel,
                    template=template,
                )
            )
    conn.execute(
        insert(borrower_flags).values(
            borrower_id="B3",
            flag="dispute",
            since=D,
            set_by="test",
            set_at=datetime(2026, 1, 10, tzinfo=UTC),
        )
    )
    conn.execute(  # one call made already today on the shared number
        insert(t.interactions).values(
            case_id=1,
            occurred_at=datetime(2026, 1, 16, 0, 30, tzinfo=UTC),
            business_date=D,
            channel="call",
            target_type="borrower",
            target_id="B0",
            outcome="no_answer",
        )
    )


def _one_by_one(conn: Connection) -> dict[int, tuple[Any, ...]]:
    """Each action decided on its own, in the night's order, the calls allowed before it
    counted: what the gate must record."""
    sql = Dialect.of(conn)
    scope = SCOPE.format(d=sql.date_param("d"))
    params = {"d": D}
    pack = load_pack("cn")
    rows = conn.execute(dated(candidate_sql(sql, scope.replace("s.", "a.")), "d"), params).all()
    k = load_counters(conn, D, pack, scope, params, exclude=-1)
    waived = overrides_of(conn, scope, params)
    expected = {}
    for row in rows:
        c, h = candidate_of(row, k, D)
        dec = decide_waived(c, h, pack, day_start(D, c.timezone), waived.get(row.id, set()))
        count_allowed(k, row, D, dec)
        at = dec.at.astimezone(UTC) if dec.at else None
        consulted = ",".join(x.rule_id for x in dec.consulted)
        expected[row.id] = (dec.verdict.value, at, dec.rule_id, dec.reason, consulted)
    return expected


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_each_action_gets_the_decision_it_gets_on_its_own(db: Engine) -> None:
    with db.begin() as conn:
        _night(conn)
        override = conn.execute(
            select(t.actions.c.id).where(t.actions.c.case_id == 4, t.actions.c.channel == "sms")
        ).scalar_one()
        conn.execute(
            insert(t.metadata.tables["compliance_overrides"]).values(
                action_id=override,
                rule_id="cn.flag_dispute",
                reason="verified",
                by="officer",
                at=datetime(2026, 1, 15, tzinfo=UTC),
            )
        )
        expected = _one_by_one(conn)
        report = gate_planned_actions(conn, D, "cn")
        a, r = t.actions.c, gate_rulings.c
        recorded = {
            x.id: (x.verdict, _utc(x.scheduled_at), x.rule_id, x.reason, x.consulted)
            for x in conn.execute(
                select(a.id, r.verdict, r.scheduled_at, r.rule_id, r.reason, r.consulted).join(
                    gate_rulings, r.id == a.ruling_id
                )
            )
        }
        statuses = dict(conn.execute(select(t.actions.c.id, t.actions.c.status)).all())
    assert recorded == expected
    assert recorded[override][0] == "allow"  # the dispute's block waived for this one action
    assert recorded[override][3].endswith("(overridden: cn.flag_dispute)")
    verdicts = [v[0] for v in expected.values()]
    # the night is varied enough to mean something: every verdict, the number's limit reached
    assert {"allow", "defer", "block"} <= set(verdicts)
    assert "defer cn.attempts_per_number_per_day" in report.by_rule
    assert (report.allowed, report.deferred, report.blocked) == tuple(
        verdicts.count(v) for v in ("allow", "defer", "block")
    )
    status = {"allow": "planned", "defer": "deferred", "block": "blocked"}
    assert statuses == {a: status[v[0]] for a, v in expected.items()}
