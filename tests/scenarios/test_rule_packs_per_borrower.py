"""Rule packs per borrower, date by date, through the daily run and the real gate (SQLite and
PostgreSQL).

1. Two borrowers, one in China and one in California, in one database, the same night: each
   planned and gated under their own pack — the US one gets the validation notice first, their
   collection calls wait until it is sent, and their contact person is never called; the
   Chinese one is called, and the contact called when the borrower cannot be reached.
2. An agent records a dispute: the next run plans nothing for that account, the dispatcher's
   and dial checks refuse; verification resumes it.
3. `use-pack` changes what the next run uses, whatever the installation's default says.
"""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Engine, select, update

from arrears.compliance.batch import gate_planned_actions
from arrears.compliance.officer import map_jurisdiction, set_rule_pack
from arrears.compliance.port import check_dial, check_sends
from arrears.engine.run_day import run_day
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.disputes import list_disputes, verify_dispute
from arrears.services.outcomes import record_outcome
from arrears.store import tables as t
from arrears.store.tables_compliance import audit_log, gate_rulings
from tests import factories as f

DUE = date(2026, 3, 15)
DAY1 = DUE + timedelta(days=1)  # a Monday, no holiday in China or the US
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY2 + timedelta(days=1)


def _at(d: date, hour: int = 6) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=UTC)


def _actions(conn: Connection, d: date, borrower: str) -> dict[str, tuple[str, str | None]]:
    """step -> (status, rule) of the borrower's case's actions on d."""
    a = t.actions.c
    rows = conn.execute(
        select(a.step, a.status, a.rule_id)
        .join(t.cases, t.cases.c.id == a.case_id)
        .where(a.business_date == d, t.cases.c.borrower_id == borrower)
    ).all()
    return {r.step: (r.status, r.rule_id) for r in rows}


def _packs(conn: Connection, d: date, borrower: str) -> set[str]:
    a = t.actions.c
    return set(
        conn.scalars(
            select(gate_rulings.c.pack)
            .join(t.actions, gate_rulings.c.id == a.ruling_id)
            .join(t.cases, t.cases.c.id == a.case_id)
            .where(a.business_date == d, t.cases.c.borrower_id == borrower)
        )
    )


def _case(conn: Connection, borrower: str) -> int:
    return int(
        conn.execute(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower)).scalar_one()
    )


def _action(conn: Connection, d: date, borrower: str, step: str) -> int:
    a = t.actions.c
    return int(
        conn.execute(
            select(a.id)
            .join(t.cases, t.cases.c.id == a.case_id)
            .where(a.business_date == d, a.step == step, t.cases.c.borrower_id == borrower)
        ).scalar_one()
    )


def _borrowers(conn: Connection) -> None:
    f.borrower(conn, "CN1", phone="+8613800000001", jurisdiction="CN")
    f.contact(conn, "CC1", "CN1", phone="+8613900000001")
    f.account(conn, "ACN", "CN1", [(DUE, 100000, 3000)])
    f.borrower(
        conn,
        "US1",
        phone="+14155550101",
        name="Jane Roe",
        timezone="America/Los_Angeles",
        language="en",
        jurisdiction="US-CA",
    )
    f.contact(conn, "UC1", "US1", phone="+14155550102", name="John Roe")
    f.account(conn, "AUS", "US1", [(DUE, 100000, 3000)], currency="USD")


def _night(db: Engine, d: date) -> None:
    # the installation's default pack is 'cn' (what $ARREARS_RULE_PACK would say)
    run_day(db, d, gate=gate_planned_actions, rule_pack="cn")


def _no_answer(conn: Connection, d: date, borrower: str, step: str) -> None:
    action_id = _action(conn, d, borrower, step)
    record_outcome(
        conn,
        case_id=_case(conn, borrower),
        target_type="borrower",
        target_id=borrower,
        channel="call",
        outcome="no_answer",
        at=_at(d),
        business_date=d,
        agent="agent1",
        action_id=action_id,
        gate=gate_planned_actions,
        rule_pack="cn",
    )


def test_two_borrowers_two_packs_one_night(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        _borrowers(conn)
        map_jurisdiction(
            conn, keyring, pattern="US-*", pack="us", by="officer", reason="US book", at=_at(DUE)
        )
        entry = conn.execute(select(audit_log).where(audit_log.c.subject == "jurisdiction:US-*"))
        assert entry.one().kind == audit.AuditKind.RULE_PACK

    # day 1: both miss the instalment; one night, two packs
    _night(db, DAY1)
    with db.begin() as conn:
        assert _packs(conn, DAY1, "CN1") == {"cn"}
        assert _packs(conn, DAY1, "US1") == {"us"}
        cn, us = _actions(conn, DAY1, "CN1"), _actions(conn, DAY1, "US1")
        assert cn["dpd1_call"] == ("planned", None)
        assert "validation_notice" not in cn
        # the US borrower: the validation notice goes first, queued as a letter (no e-mail
        # address); the collection call and SMS wait for it
        assert us["validation_notice"] == ("queued", None)
        assert us["dpd1_call"] == ("deferred", "us.validation_notice")
        assert us["dpd1_sms"] == ("deferred", "us.validation_notice")
        # the Chinese borrower does not answer: their consenting contact is called today
        _no_answer(conn, DAY1, "CN1", "dpd1_call")
        assert _actions(conn, DAY1, "CN1")["contact_call"] == ("planned", None)
        # the dispatcher sends the notice (the letter goes out)
        conn.execute(
            update(t.actions)
            .where(t.actions.c.id == _action(conn, DAY1, "US1", "validation_notice"))
            .values(status="sent", completed_at=_at(DAY1, 18))
        )

    # day 2: the notice is out; the call waiting for it comes back and is allowed
    _night(db, DAY2)
    with db.begin() as conn:
        us = _actions(conn, DAY2, "US1")
        assert us["dpd1_call"] == ("planned", None)
        assert "validation_notice" not in us  # one notice per case
        # the US borrower does not answer either: the contact is not called under 'us'
        _no_answer(conn, DAY2, "US1", "dpd1_call")
        assert _actions(conn, DAY2, "US1")["contact_call"] == ("blocked", "us.contact_channel")
        # an agent dialling the contact by hand is refused the same way
        verdict = check_dial(
            conn,
            case_id=_case(conn, "US1"),
            target="contact",
            contact_id="UC1",
            at=_at(DAY2, 18),
            record=False,
        )
        assert (verdict.allowed, verdict.rule_id, verdict.pack) == (
            False,
            "us.contact_channel",
            "us",
        )


def test_a_dispute_pauses_collection_until_verified(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        _borrowers(conn)
    _night(db, DAY1)
    with db.begin() as conn:
        call = _action(conn, DAY1, "CN1", "dpd1_call")
        sms = _action(conn, DAY1, "CN1", "dpd1_sms")
        # day 1: the borrower answers and disputes the debt
        record_outcome(
            conn,
            case_id=_case(conn, "CN1"),
            target_type="borrower",
            target_id="CN1",
            channel="call",
            outcome="dispute",
            at=_at(DAY1),
            business_date=DAY1,
            agent="agent1",
            action_id=call,
            note="says the loan was repaid in January",
        )
        (dispute,) = list_disputes(conn)
        assert (dispute.borrower_id, dispute.source) == ("CN1", "agent")
        assert dispute.owner == "compliance"
        assert dispute.due_on == DAY1 + timedelta(days=30)
        # the dispatcher and the dial check refuse at once
        assert check_sends(conn, [sms], _at(DAY1, 4))[sms].rule_id == "cn.flag_dispute"
        dial = check_dial(
            conn,
            case_id=_case(conn, "CN1"),
            target="borrower",
            contact_id=None,
            at=_at(DAY1, 4),
            record=False,
        )
        assert (dial.allowed, dial.rule_id) == (False, "cn.flag_dispute")

    # days 2 and 3 (the strategy's day-3 reminder and call are due): the run plans nothing for
    # the disputed account; the other borrower's is worked
    for d in (DAY2, DAY3):
        _night(db, d)
        with db.begin() as conn:
            assert _actions(conn, d, "CN1") == {}
    with db.begin() as conn:
        assert _actions(conn, DAY3, "US1")  # the other borrower's collection goes on
        verify_dispute(
            conn,
            dispute.id,
            on=DAY3,
            by="officer",
            at=_at(DAY3, 8),
            note="statement of account sent",
            keyring=keyring,
        )
        assert list_disputes(conn) == []

    # day 7: verified; collection resumes with the strategy's day-7 steps
    day7 = DUE + timedelta(days=7)
    _night(db, day7)
    with db.begin() as conn:
        resumed = _actions(conn, day7, "CN1")
        assert resumed["dpd_call_7"] == ("planned", None)
        assert all(status != "blocked" for status, _ in resumed.values())


def test_use_pack_changes_the_next_run(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        _borrowers(conn)  # no jurisdiction mapped: both under the portfolio default
    _night(db, DAY1)
    with db.begin() as conn:
        assert _packs(conn, DAY1, "US1") == {"cn"}
        assert "validation_notice" not in _actions(conn, DAY1, "US1")
        set_rule_pack(conn, keyring, pack="us", by="officer", reason="US lender", at=_at(DAY1, 9))
    # the next night uses 'us' for everyone, though the installation's default says 'cn'
    _night(db, DAY2)
    with db.begin() as conn:
        assert _packs(conn, DAY2, "US1") == {"us"}
        assert _packs(conn, DAY2, "CN1") == {"us"}
        assert _actions(conn, DAY2, "US1")["validation_notice"] == ("queued", None)
