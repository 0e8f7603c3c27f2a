"""A strategy plans open cases in every currency: a USD borrower gets the seed's day-one reminder
and call like a CNY one; an amount written in the strategy's currency (CNY) is unknown for the
USD case, so a step that needs it does not fire there — and its negation does not either; an
amount that names its currency (900 USD) gives USD cases their own threshold. The compiled
query and the reference evaluator agree."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine, select

from arrears.domain.strategy.evaluate import PlannedAction, evaluate
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from arrears.strategy import loader
from arrears.strategy.plan import preview
from arrears.strategy.snapshot import load_snapshots
from tests import factories as f

DUE = date(2026, 5, 10)
DAY1 = DUE + timedelta(days=1)

BIG = loader.loads(
    """\
strategy: big
currency: CNY
steps:
  - name: big_call
    on: case_opened
    when: overdue_amount > 500
    action: {channel: call, template: call_borrower}
  - name: small_sms
    on: case_opened
    when: not (overdue_amount > 500)
    action: {channel: sms, template: reminder_day1}
  - name: every_case_email
    on: case_opened
    when: dpd == 1
    action: {channel: email, template: reminder_day1}
  - name: large_in_either
    on: case_opened
    when: overdue_amount > 500 or overdue_amount > 900 USD
    action: {channel: push, template: reminder_day1}
  - name: larger_in_either
    on: case_opened
    when: overdue_amount > 5000 or overdue_amount > 2000 USD
    action: {channel: letter, template: reminder}
"""
)


def _planned(db: Engine) -> set[tuple[str, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            select(t.cases.c.currency, t.actions.c.step).join(
                t.cases, t.cases.c.id == t.actions.c.case_id
            )
        ).all()
    return {(currency, step) for currency, step in rows}


def _two_borrowers(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B-CN")
        f.account(conn, "A-CN", "B-CN", [(DUE, 100000, 0)])  # 1,000.00 CNY
        f.borrower(conn, "B-US", phone="+12025550123", timezone="America/New_York")
        f.account(conn, "A-US", "B-US", [(DUE, 100000, 0)], currency="USD")  # 1,000.00 USD


def test_the_seed_plans_a_usd_case_like_a_cny_one(db: Engine) -> None:
    _two_borrowers(db)
    report = run_day(db, DAY1)
    assert report.cases_opened == 2
    planned = _planned(db)
    for currency in ("CNY", "USD"):
        assert {(currency, "dpd1_sms"), (currency, "dpd1_call")} <= planned
    with db.connect() as conn:
        usd = conn.execute(
            select(t.cases.c.strategy, t.cases.c.variant).where(t.cases.c.currency == "USD")
        ).one()
    assert tuple(usd) == ("seed", "champion")


def test_an_amount_in_cny_decides_nothing_for_a_usd_case(db: Engine) -> None:
    _two_borrowers(db)
    run_day(db, DAY1, strategy=BIG)
    assert _planned(db) == {
        ("CNY", "big_call"),
        ("CNY", "every_case_email"),
        ("USD", "every_case_email"),
        ("CNY", "large_in_either"),
        ("USD", "large_in_either"),
    }
    with db.connect() as conn:  # the compiled query and the reference decide alike
        compiled = preview(conn, BIG, DAY1)
        snaps = load_snapshots(conn, BIG.name)
    reference = sorted(
        (a for s in snaps for a in evaluate(BIG, s, DAY1).actions), key=PlannedAction.key
    )
    assert compiled == reference and len(compiled) == 5
