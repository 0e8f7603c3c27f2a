"""The seed's case study, date by date, through the real services and the daily run.

day 1: SMS reminder queued and a call task for the borrower; borrower unreachable; the
contact is called the same day with a script that says nothing of the debt; illness learned.
day 1: a 3-instalment plan proposed beyond the agent's limit; the team lead approves it.
days 8, 22, 36: reminders three days before, instalments paid; the plan completes, the case
is cured.
"""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Engine, select

from arrears.domain.plans import PlanTerms
from arrears.engine.run_day import run_day
from arrears.services.outcomes import record_outcome
from arrears.services.plans import approve_plan, propose_plan
from arrears.store import tables as t
from tests import factories as f

DUE = date(2026, 3, 15)
DAY1 = DUE + timedelta(days=1)


def _at(d: date) -> datetime:
    return datetime.combine(d, time(3), tzinfo=UTC)


def _actions(conn: Connection, d: date) -> list[tuple[str, str, str, str]]:
    a = t.actions.c
    return sorted(
        conn.execute(
            select(a.step, a.target_id, a.template, a.status).where(a.business_date == d)
        ).all()
    )


def _call(conn: Connection, d: date, step: str) -> tuple[int, int, str, str]:
    a = t.actions.c
    row = conn.execute(
        select(a.id, a.case_id, a.target_type, a.target_id).where(
            a.business_date == d, a.step == step
        )
    ).one()
    return row.id, row.case_id, row.target_type, row.target_id


def _account(db: Engine) -> tuple[int, str]:
    with db.connect() as conn:
        row = conn.execute(select(t.accounts).where(t.accounts.c.id == "A1")).one()
    return row.dpd, row.bucket


def test_illness_day_one_contact_plan_paid_in_full(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1", name="陈静")
        f.contact(conn, "C1", "B1", name="陈明", relationship="sibling")
        f.contact(conn, "C2", "B1", consent=False)
        f.account(
            conn,
            "A1",
            "B1",
            [(DUE, 100000, 3000), (DUE + timedelta(days=61), 100000, 3000)],
            penalty_rate_ppm=50000,
        )

    # day 1: the instalment was missed
    report = run_day(db, DAY1)
    assert report.cases_opened == 1
    assert _account(db) == (1, "M1")
    with db.begin() as conn:
        assert _actions(conn, DAY1) == [
            ("dpd1_call", "B1", "call_borrower", "planned"),
            ("dpd1_sms", "B1", "reminder_day1", "queued"),
        ]
        # the agent's calls to the borrower fail: borrower unreachable
        action_id, case_id, target_type, target_id = _call(conn, DAY1, "dpd1_call")
        result = record_outcome(
            conn,
            case_id=case_id,
            target_type=target_type,
            target_id=target_id,
            channel="call",
            outcome="no_answer",
            at=_at(DAY1),
            business_date=DAY1,
            agent="agent1",
            action_id=action_id,
        )
        assert result.borrower_unreachable
        # same day: a call task to the consenting contact only, with the contact script
        contact_calls = [a for a in _actions(conn, DAY1) if a[0] == "contact_call"]
        assert contact_calls == [("contact_call", "C1", "call_contact", "planned")]
        action_id, case_id, target_type, target_id = _call(conn, DAY1, "contact_call")
        record_outcome(
            conn,
            case_id=case_id,
            target_type=target_type,
            target_id=target_id,
            channel="call",
            outcome="contact_reached",
            hardship="illness",
            note="in hospital, looking for a new job",
            at=_at(DAY1),
            business_date=DAY1,
            agent="agent1",
            action_id=action_id,
        )
        case = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).one()
        assert case.hardship == "illness" and case.last_contact_on == DAY1
        assert ("offer_plan", "B1", "offer_plan", "planned") in _actions(conn, DAY1)

        # the plan: three fortnightly instalments, penalty waived — beyond an agent's limit
        terms = PlanTerms(
            instalments=3,
            first_due_on=DAY1 + timedelta(days=10),
            interval_days=14,
            waive_penalty=True,
        )
        proposed = propose_plan(conn, case_id=case_id, terms=terms, proposed_on=DAY1, by="agent1")
        assert proposed.status == "proposed" and proposed.approval_reasons
        approve_plan(conn, proposed.plan_id, by="lead1", on=DAY1)
        instalments = conn.execute(
            select(t.plan_instalments.c.due_on, t.plan_instalments.c.amount)
            .where(t.plan_instalments.c.plan_id == proposed.plan_id)
            .order_by(t.plan_instalments.c.seq)
        ).all()
        # 1030.00 overdue; one day of penalty (0.14) waived
        assert [a for _, a in instalments] == [34333, 34333, 34334]
        for due_on, amount in instalments:
            f.payment(conn, f"P{due_on}", "A1", amount, due_on)

    # the following days: re-aged under the plan, reminders, instalments paid
    d = DAY1 + timedelta(days=1)
    while d <= instalments[-1][0] + timedelta(days=1):
        run_day(db, d)
        assert _account(db)[0] == 0, f"re-aged account should be current on {d}"
        d += timedelta(days=1)
    with db.connect() as conn:
        reminders = (
            conn.execute(
                select(t.actions.c.business_date).where(t.actions.c.step == "plan_reminder")
            )
            .scalars()
            .all()
        )
        assert sorted(reminders) == [due - timedelta(days=3) for due, _ in instalments]
        plan = conn.execute(select(t.plans)).one()
        assert plan.status == "completed"
        case = conn.execute(select(t.cases)).one()
        assert case.status == "cured" and case.closed_on == instalments[-1][0]
        item = conn.execute(select(t.due_items).where(t.due_items.c.seq == 1)).one()
        assert item.paid_principal + item.paid_interest == 103000 and item.waived == 14
