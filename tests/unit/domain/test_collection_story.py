"""The seed's case study, date by date, with the pure domain only.

A borrower repays the first instalment of a 6-month loan, falls ill and misses the second. The
account is 1 day past due the day after; penalty accrues on the overdue principal; the borrower
promises 500 and pays 300 (partly kept); a plan for the rest, with the penalty waived, needs a
team lead's approval; the borrower finds a job, keeps the plan, and is current again.

The day's order is the daily run's: post the day's payments, accrue penalty, assess.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from arrears.domain.allocation import Waterfall, allocate
from arrears.domain.delinquency import assess, plan_days_past_due
from arrears.domain.money import Money
from arrears.domain.penalty import accrue_penalty, effective_penalty_rate
from arrears.domain.plans import (
    PlanLimits,
    PlanStatus,
    PlanTerms,
    RepaymentPlan,
    activate,
    needs_approval,
    propose,
    track,
)
from arrears.domain.products import Component, DueItem
from arrears.domain.promises import PromiseStatus, PromiseToPay, settle
from arrears.domain.schedule import annuity_schedule


def cny(text: str) -> Money:
    return Money.of(text, "CNY")


def with_penalty(item: DueItem, extra: Money) -> DueItem:
    return DueItem(
        item.seq, item.due_on, item.principal, item.interest, item.fee, item.penalty + extra,
        item.paid_principal, item.paid_interest, item.paid_fee, item.paid_penalty, item.waived,
    )  # fmt: skip


def test_missed_instalment_promise_plan_and_cure() -> None:
    items = annuity_schedule(cny("6000"), Decimal("0.12"), 6, date(2026, 2, 10))
    assert items[1].principal + items[1].interest == cny("1035.29")
    rate = effective_penalty_rate(Decimal("0.12"), Decimal("0.18"))
    assert rate == Decimal("0.12")  # 12% + 18% would exceed the 24% cap

    payments = {
        date(2026, 2, 10): cny("1035.29"),  # instalment 1, on time
        date(2026, 3, 18): cny("300"),  # part of the promise
        date(2026, 3, 28): cny("368.76"),  # plan instalment 1
        date(2026, 4, 4): cny("368.77"),  # plan instalment 2
        date(2026, 4, 10): cny("1035.29"),  # instalment 3, on time: current again
    }
    promise: PromiseToPay | None = None
    promise_status = PromiseStatus.open
    plan: RepaymentPlan | None = None
    paid_since_promise = paid_since_plan = cny("0")
    log: dict[date, dict[str, object]] = {}

    day = date(2026, 2, 10)
    while day <= date(2026, 4, 12):
        # 1. post the day's payment through the default waterfall
        if day in payments:
            amount = payments[day]
            result = allocate(
                items, amount, Waterfall.oldest_first_penalty_fee_interest_principal, day
            )
            items = result.items
            assert result.credit.is_zero()
            paid_since_promise += amount
            paid_since_plan += amount
        # 2. penalty on overdue principal — not while a plan waiving penalty is in force
        if plan is None or plan.status is not PlanStatus.active:
            items = [
                with_penalty(i, accrue_penalty(i.principal - i.paid_principal, rate, 1))
                if i.due_on < day
                else i
                for i in items
            ]
        # 3. delinquency, promises, plan
        state = assess(items, day)
        entry: dict[str, object] = {"dpd": state.dpd, "bucket": state.bucket}
        if promise is not None:
            if promise_status is PromiseStatus.open:  # a final status is decided once
                promise_status = settle(promise, paid_since_promise, day)
            entry["promise"] = promise_status
        if plan is not None and plan.status is PlanStatus.active:
            plan = track(plan, paid_since_plan, day).plan
            entry["plan"] = plan.status
            entry["reaged_dpd"] = plan_days_past_due(plan.instalments, day)
        log[day] = entry

        # the agents' work of the day
        if day == date(2026, 3, 12):  # borrower reached: promises 500 by 20 March
            promise = PromiseToPay(cny("500"), made_on=day, due_on=date(2026, 3, 20))
            paid_since_promise = cny("0")
        if day == date(2026, 3, 21):  # a plan for the rest; the penalty is waived
            arrears = {
                c: sum((i.outstanding_of(c) for i in items if i.due_on < day), cny("0"))
                for c in Component
            }
            assert arrears[Component.penalty] == cny("0.96")
            assert arrears[Component.principal] == cny("737.53")
            terms = PlanTerms(2, date(2026, 3, 28), interval_days=7, waive_penalty=True)
            proposal = propose(arrears, terms)
            assert [i.amount for i in proposal.instalments] == [cny("368.76"), cny("368.77")]
            agent = PlanLimits(max_instalments=2, max_waiver=cny("0"))
            assert needs_approval(proposal, agent) == [
                "waiver of 0.96 CNY exceeds the agent's limit of 0.00 CNY"
            ]
            plan = activate(proposal, day)  # the team lead approves
            items = [i.with_waived(Component.penalty) if i.due_on < day else i for i in items]
            paid_since_plan = cny("0")
        day += timedelta(days=1)

    assert log[date(2026, 2, 10)]["dpd"] == 0
    assert log[date(2026, 3, 10)]["dpd"] == 0  # due today
    assert log[date(2026, 3, 11)] == {"dpd": 1, "bucket": "M1"}  # day one: call the contacts
    assert log[date(2026, 3, 18)]["promise"] is PromiseStatus.open
    assert log[date(2026, 3, 20)]["promise"] is PromiseStatus.open  # due today
    assert log[date(2026, 3, 21)]["promise"] is PromiseStatus.partly_kept
    assert log[date(2026, 3, 21)]["dpd"] == 11
    # under the plan the account counts as current while the plan is kept
    assert log[date(2026, 3, 28)]["dpd"] == 18
    assert log[date(2026, 3, 28)]["reaged_dpd"] == 0
    assert log[date(2026, 3, 30)]["plan"] is PlanStatus.active
    assert log[date(2026, 4, 4)]["plan"] is PlanStatus.completed
    assert log[date(2026, 4, 4)]["dpd"] == 0
    assert log[date(2026, 4, 11)] == {
        "dpd": 0,
        "bucket": "M0",
        "promise": PromiseStatus.partly_kept,
    }
    # what happened to the money: the penalty accrued was 3.20; 2.24 paid, 0.96 forgiven
    second = items[1]
    assert second.is_settled()
    assert (second.penalty, second.paid_penalty, second.waived) == (
        cny("3.20"),
        cny("3.20"),
        cny("0.96"),
    )
    assert second.cash_paid() == cny("1037.53")
    assert items[2].is_settled() and not items[3].is_settled()
