"""Planning with a strategy on SQLite and PostgreSQL: variants assigned once and kept,
re-runs add nothing, contacts reached only with consent, the challenger waits for day 3."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from arrears.domain.strategy.variants import Variant, variant_for
from arrears.engine.plan_actions import plan_actions
from arrears.store import tables as t
from arrears.store.tables_strategy import strategy_assignments
from arrears.strategy import loader
from arrears.strategy.plan import PinInvalid, Pinned, plan_with

D1 = date(2025, 3, 1)

EXPERIMENT = """\
strategy: exp
salt: exp-1
variants:
  - {{name: champion, share: {champion}}}
  - {{name: challenger, share: {challenger}}}
steps:
  - name: dpd1_sms
    on: case_opened
    action: {{channel: sms, template: reminder_day1}}
"""


def open_cases(engine: Engine, first: int, count: int, opened_on: date) -> None:
    with engine.begin() as conn:
        for i in range(first, first + count):
            conn.execute(insert(t.borrowers).values(id=f"B{i}"))
            conn.execute(
                insert(t.cases).values(
                    id=i, borrower_id=f"B{i}", opened_on=opened_on, currency="CNY", dpd=1,
                    bucket="M1", overdue_amount=10000,
                )
            )  # fmt: skip


def variants(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.cases.c.id, t.cases.c.variant, t.cases.c.strategy)).all()
    assert {r[2] for r in rows} == {"exp"}
    return {r[0]: r[1] for r in rows}


def test_variants_are_assigned_once_and_kept_when_shares_change(db: Engine) -> None:
    first = loader.loads(EXPERIMENT.format(champion=50, challenger=50))
    open_cases(db, 1, 200, D1)
    with db.begin() as conn:
        planned = plan_with(conn, first, D1)
    assert planned == 200
    day1 = variants(db)
    expected = [Variant("champion", 50), Variant("challenger", 50)]
    assert day1 == {i: variant_for(i, "exp-1", expected) for i in range(1, 201)}
    assert 70 < sum(v == "challenger" for v in day1.values()) < 130

    # the strategist moves the shares to 10/90: only cases opened from now on follow them
    second = loader.loads(EXPERIMENT.format(champion=10, challenger=90))
    open_cases(db, 201, 200, D1 + timedelta(days=1))
    with db.begin() as conn:
        plan_with(conn, second, D1 + timedelta(days=1))
    day2 = variants(db)
    assert {i: day2[i] for i in day1} == day1
    later = [Variant("champion", 10), Variant("challenger", 90)]
    assert {i: day2[i] for i in range(201, 401)} == {
        i: variant_for(i, "exp-1", later) for i in range(201, 401)
    }
    with db.connect() as conn:
        stored = conn.execute(select(strategy_assignments.c.case_id)).all()
    assert len(stored) == 400


def test_planning_again_the_same_day_adds_nothing(db: Engine) -> None:
    open_cases(db, 1, 5, D1)
    with db.begin() as conn:
        assert plan_actions(conn, D1) == 10  # dpd1_sms and dpd1_call
    with db.begin() as conn:
        assert plan_actions(conn, D1) == 0
    with db.connect() as conn:
        steps = conn.execute(select(t.actions.c.step, t.actions.c.template)).all()
    assert sorted(set(steps)) == [("dpd1_call", "call_borrower"), ("dpd1_sms", "reminder_day1")]


def test_contacts_are_called_only_with_consent_when_the_borrower_is_unreachable(
    db: Engine,
) -> None:
    open_cases(db, 1, 1, D1)
    day2 = D1 + timedelta(days=1)
    with db.begin() as conn:
        for cid, consent, status in (
            ("K1", True, "active"),
            ("K2", False, "active"),
            ("K3", True, "refused"),
            ("K4", True, "active"),
        ):
            conn.execute(
                insert(t.contacts).values(
                    id=cid, borrower_id="B1", relationship="friend", consent=consent,
                    status=status,
                )
            )  # fmt: skip
        conn.execute(t.cases.update().values(unreachable_on=day2, dpd=2))
        plan_actions(conn, day2)
    with db.connect() as conn:
        rows = conn.execute(
            select(t.actions.c.step, t.actions.c.target_type, t.actions.c.target_id)
        ).all()
    assert sorted(rows) == [("contact_call", "contact", "K1"), ("contact_call", "contact", "K4")]


def test_the_challenger_waits_until_day_three_for_the_first_call(db: Engine) -> None:
    experiment = loader.load("seed_challenger_day3")
    open_cases(db, 1, 60, D1)
    with db.begin() as conn:
        plan_with(conn, experiment, D1)
    day3 = D1 + timedelta(days=2)
    with db.begin() as conn:
        conn.execute(t.cases.update().values(dpd=3))
        plan_with(conn, experiment, day3)
    with db.connect() as conn:
        rows = conn.execute(
            select(t.cases.c.variant, t.actions.c.business_date, t.actions.c.channel).join(
                t.actions, t.actions.c.case_id == t.cases.c.id
            )
        ).all()
    calls = {(v, d) for v, d, ch in rows if ch == "call"}
    assert calls == {("champion", D1), ("champion", day3), ("challenger_day3", day3)}
    texts = {(v, d) for v, d, ch in rows if ch == "sms"}
    assert ("challenger_day3", D1) in texts and ("champion", D1) in texts


def test_a_pin_places_a_borrowers_new_case_and_is_recorded_as_pinned(db: Engine) -> None:
    strategy = loader.loads(EXPERIMENT.format(champion=50, challenger=50))
    expected = [Variant("champion", 50), Variant("challenger", 50)]
    # pin a borrower whose case the hash would put in the challenger
    drawn = {i: variant_for(i, "exp-1", expected) for i in range(1, 41)}
    pinned_case = next(i for i, v in drawn.items() if v == "challenger")
    already = next(i for i, v in drawn.items() if v == "challenger" and i != pinned_case)
    open_cases(db, 1, 40, D1)
    with db.begin() as conn:
        plan_with(conn, strategy, D1, [already])  # assigned before the pin: kept
        pins = {f"B{pinned_case}": "champion", f"B{already}": "champion"}
        plan_actions(conn, D1, Pinned(strategy, pins))
        rows = {
            r.case_id: (r.variant, r.salt) for r in conn.execute(select(strategy_assignments)).all()
        }
    assert rows[pinned_case] == ("champion", "pinned")
    assert rows[already] == ("challenger", "exp-1")
    others = {i: v for i, (v, _) in rows.items() if i not in (pinned_case, already)}
    assert others == {i: drawn[i] for i in others}
    assert variants(db)[pinned_case] == "champion"
    with pytest.raises(PinInvalid, match="does not have"):
        Pinned(strategy, {"B1": "challenger_day3"})
