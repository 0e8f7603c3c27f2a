"""A plan counts only what is paid towards it, date by date, in the daily run and in the domain.

Borrower B1 missed A1's instalment due 1 March (1,030.00) and agrees on 5 March a plan of three
instalments of 343.33 / 343.33 / 343.34 due 12 and 26 March and 9 April (team lead approval).
The plan covers the arrears of 5 March only. Meanwhile the borrower pays the regular instalments
of another account, A2 (500.00 on 20 March and on 5 April): those are not plan payments, and
counting every payment since activation (as the run once did) would have paid the plan's
second instalment on 20 March and completed the plan on 5 April. A1's own regular instalment
due 1 April stays unpaid. The third plan instalment is never paid: missed on 13 April (grace 3),
the plan breaks.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, Engine, select, text

from arrears.domain.money import Money
from arrears.domain.plans import Applied, PlanTerms, paid_towards, track
from arrears.engine.run_day import run_day
from arrears.services.plans import approve_plan, load_plan, propose_plan
from arrears.store import tables as t
from tests import factories as f

MISSED = date(2026, 3, 1)
AGREED = date(2026, 3, 5)


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _applied(conn: Connection) -> list[Applied]:
    rows = conn.execute(
        text(
            """SELECT p.received_on, di.due_on, al.amount, p.currency FROM allocations al
               JOIN payments p ON p.id = al.payment_id
               JOIN due_items di ON di.account_id = al.account_id AND di.seq = al.seq"""
        )
    ).all()
    return [Applied(_day(r[0]), _day(r[1]), Money.from_minor(r[2], r[3])) for r in rows]


def _state(conn: Connection, plan_id: int) -> tuple[str, list[tuple[str, int]]]:
    pi = t.plan_instalments.c
    status = conn.execute(select(t.plans.c.status).where(t.plans.c.id == plan_id)).scalar_one()
    rows = conn.execute(
        select(pi.status, pi.paid_amount).where(pi.plan_id == plan_id).order_by(pi.seq)
    ).all()
    return status, [(s, int(p)) for s, p in rows]


def test_only_payments_towards_the_plan_pay_its_instalments_day_by_day(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(MISSED, 100000, 3000), (date(2026, 4, 1), 100000, 3000)])
        f.account(conn, "A2", "B1", [(date(2026, 3, 20), 50000, 0), (date(2026, 4, 5), 50000, 0)])
        f.payment(conn, "P1", "A1", 34333, date(2026, 3, 11))  # plan instalment 1
        f.payment(conn, "R1", "A2", 50000, date(2026, 3, 20))  # A2's regular instalment
        f.payment(conn, "P2", "A1", 34333, date(2026, 3, 25))  # plan instalment 2
        f.payment(conn, "R2", "A2", 50000, date(2026, 4, 5))  # A2's regular instalment
    day = MISSED + timedelta(days=1)
    while day < AGREED:
        run_day(db, day)
        day += timedelta(days=1)
    with db.begin() as conn:
        case_id = conn.execute(select(t.cases.c.id)).scalar_one()
        terms = PlanTerms(instalments=3, first_due_on=date(2026, 3, 12), interval_days=14)
        proposed = propose_plan(conn, case_id=case_id, terms=terms, proposed_on=AGREED, by="a")
        assert proposed.approval_reasons  # three instalments: beyond the agent's limit
        approve_plan(conn, proposed.plan_id, by="lead", on=AGREED)
        plan = load_plan(conn, proposed.plan_id)
    assert [i.amount.to_minor() for i in plan.instalments] == [34333, 34333, 34334]

    seen: dict[date, tuple[str, list[tuple[str, int]]]] = {}
    day = AGREED
    while day <= date(2026, 4, 20):
        run_day(db, day)
        with db.connect() as conn:
            seen[day] = _state(conn, proposed.plan_id)
            before = seen.get(day - timedelta(days=1), ("active", []))[0]
            if "active" in (seen[day][0], before):
                # the domain, from the same ledger, decides the same on this date
                towards = paid_towards(plan, _applied(conn), day)
                tracked = track(plan, towards, day).plan
                assert seen[day] == (
                    tracked.status.value,
                    [(i.status.value, i.paid.to_minor()) for i in tracked.instalments],
                ), day
        day += timedelta(days=1)

    paid, pending, missed = "paid", "pending", "missed"
    assert seen[date(2026, 3, 10)] == ("active", [(pending, 0), (pending, 0), (pending, 0)])
    assert seen[date(2026, 3, 11)] == ("active", [(paid, 34333), (pending, 0), (pending, 0)])
    # A2's regular instalment is not the plan's
    assert seen[date(2026, 3, 20)] == ("active", [(paid, 34333), (pending, 0), (pending, 0)])
    assert seen[date(2026, 3, 25)] == ("active", [(paid, 34333), (paid, 34333), (pending, 0)])
    # A1's regular instalment falls due (unpaid), A2's is paid: neither touches the plan
    assert seen[date(2026, 4, 5)] == ("active", [(paid, 34333), (paid, 34333), (pending, 0)])
    assert seen[date(2026, 4, 12)] == ("active", [(paid, 34333), (paid, 34333), (pending, 0)])
    assert seen[date(2026, 4, 13)] == ("broken", [(paid, 34333), (paid, 34333), (missed, 0)])
