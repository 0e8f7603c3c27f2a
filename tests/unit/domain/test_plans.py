"""Repayment plans: proposal, approval limits, transitions, and tracking day by day."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.domain.delinquency import plan_days_past_due
from arrears.domain.money import CurrencyMismatch, Money
from arrears.domain.plans import (
    InstalmentStatus,
    PlanLimits,
    PlanStatus,
    PlanTerms,
    PlanTermsInvalid,
    PlanTransitionInvalid,
    RepaymentPlan,
    activate,
    cancel,
    needs_approval,
    propose,
    track,
)
from arrears.domain.products import Component

FIRST = date(2024, 6, 10)
TODAY = date(2024, 6, 1)


def cny(text: str) -> Money:
    return Money.of(text, "CNY")


ARREARS = {
    Component.principal: cny("900"),
    Component.interest: cny("80"),
    Component.fee: cny("20"),
    Component.penalty: cny("12.34"),
}


def terms(**kw: object) -> PlanTerms:
    base: dict[str, object] = {"instalments": 3, "first_due_on": FIRST}
    return PlanTerms(**{**base, **kw})  # type: ignore[arg-type]


def active(plan: RepaymentPlan) -> RepaymentPlan:
    return activate(plan, TODAY)


def test_proposal_without_waiver_splits_all_arrears() -> None:
    plan = propose(ARREARS, terms())
    assert plan.status is PlanStatus.proposed
    assert plan.total == cny("1012.34") and plan.waived == cny("0")
    assert [i.amount for i in plan.instalments] == [cny("337.44"), cny("337.44"), cny("337.46")]
    assert [i.due_on for i in plan.instalments] == [
        date(2024, 6, 10),
        date(2024, 7, 10),
        date(2024, 8, 10),
    ]
    assert all(i.status is InstalmentStatus.pending and i.paid.is_zero() for i in plan.instalments)


def test_waiving_penalty_and_interest_records_the_waiver() -> None:
    plan = propose(ARREARS, terms(waive_penalty=True, waive_interest=True, instalments=2))
    assert plan.waived == cny("92.34")
    assert plan.waived_by_component == {
        Component.interest: cny("80"),
        Component.penalty: cny("12.34"),
    }
    assert plan.total == cny("920")
    assert [i.amount for i in plan.instalments] == [cny("460"), cny("460")]


def test_instalments_every_n_days_or_every_n_months_clamped_to_month_end() -> None:
    weekly = propose(ARREARS, terms(interval_days=7))
    assert [i.due_on for i in weekly.instalments] == [FIRST, date(2024, 6, 17), date(2024, 6, 24)]
    end = propose(ARREARS, terms(first_due_on=date(2024, 1, 31), interval_months=1))
    assert [i.due_on for i in end.instalments] == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
    ]
    quarterly = propose(ARREARS, terms(interval_months=3, instalments=2))
    assert quarterly.instalments[1].due_on == date(2024, 9, 10)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"instalments": 0}, "at least 1"),
        ({"interval_months": 0}, "at least 1"),
        ({"interval_days": 0}, "at least 1"),
        ({"grace_days": -1}, "0 or more"),
        ({"interval_days": 7, "interval_months": 2}, "not both"),
    ],
)
def test_invalid_terms(kw: dict[str, object], message: str) -> None:
    with pytest.raises(PlanTermsInvalid, match=message):
        terms(**kw)


def test_invalid_proposals() -> None:
    with pytest.raises(PlanTermsInvalid, match="no arrears"):
        propose({}, terms())
    with pytest.raises(PlanTermsInvalid, match="negative"):
        propose({Component.principal: cny("-1")}, terms())
    with pytest.raises(CurrencyMismatch):
        propose({Component.principal: cny("1"), Component.fee: Money.of(1, "USD")}, terms())
    with pytest.raises(PlanTermsInvalid, match="fewer instalments"):
        propose({Component.penalty: cny("5")}, terms(waive_penalty=True))
    with pytest.raises(PlanTermsInvalid, match="fewer instalments"):
        propose({Component.principal: cny("0.02")}, terms())


LIMITS = PlanLimits(max_instalments=6, max_waiver=cny("50"))


def test_within_the_agents_limits_needs_no_approval() -> None:
    assert needs_approval(propose(ARREARS, terms(instalments=6, waive_penalty=True)), LIMITS) == []


def test_beyond_the_agents_limits_lists_every_reason() -> None:
    plan = propose(ARREARS, terms(instalments=7, waive_interest=True))
    assert needs_approval(plan, LIMITS) == [
        "7 instalments exceed the agent's limit of 6",
        "waiver of 80.00 CNY exceeds the agent's limit of 50.00 CNY",
    ]
    term_limit = PlanLimits(max_instalments=12, max_waiver=cny("100"), max_term_days=90)
    assert needs_approval(propose(ARREARS, terms(instalments=4)), term_limit) == [
        "plan runs 92 days, beyond the agent's limit of 90"
    ]


def test_transitions() -> None:
    plan = propose(ARREARS, terms())
    live = activate(plan, TODAY)
    assert (live.status, live.activated_on) == (PlanStatus.active, TODAY)
    assert cancel(plan, TODAY).status is PlanStatus.cancelled
    assert cancel(live, TODAY).ended_on == TODAY
    with pytest.raises(PlanTransitionInvalid, match="is active and cannot become active"):
        activate(live, TODAY)
    broken = track(live, cny("0"), date(2024, 6, 14)).plan
    assert broken.status is PlanStatus.broken
    with pytest.raises(PlanTransitionInvalid, match="is broken and cannot become active"):
        activate(broken, TODAY)
    with pytest.raises(PlanTransitionInvalid, match="final"):
        cancel(broken, TODAY)
    with pytest.raises(PlanTransitionInvalid):
        track(plan, cny("0"), TODAY)  # a proposed plan is not tracked


@pytest.mark.parametrize(
    ("as_of", "status", "instalment"),
    [
        (date(2024, 6, 10), PlanStatus.active, InstalmentStatus.pending),  # due date
        (date(2024, 6, 13), PlanStatus.active, InstalmentStatus.pending),  # day 3: grace
        (date(2024, 6, 14), PlanStatus.broken, InstalmentStatus.missed),  # day 4: missed
    ],
)
def test_grace_boundary(as_of: date, status: PlanStatus, instalment: InstalmentStatus) -> None:
    tracked = track(active(propose(ARREARS, terms())), cny("337.43"), as_of)
    assert tracked.status is status
    assert tracked.plan.instalments[0].status is instalment
    assert tracked.plan.instalments[0].paid == cny("337.43")


def test_zero_grace_misses_the_day_after() -> None:
    plan = active(propose(ARREARS, terms(grace_days=0)))
    assert track(plan, cny("0"), FIRST).status is PlanStatus.active
    assert track(plan, cny("0"), FIRST + timedelta(days=1)).missed == (1,)


def test_a_plan_kept_story_day_by_day() -> None:
    """3 instalments of ~337: paid a day early, then short and late within grace, then on time."""
    plan = active(propose(ARREARS, terms()))
    payments = {
        date(2024, 6, 9): cny("337.44"),
        date(2024, 7, 12): cny("300"),  # two days late, and short
        date(2024, 7, 13): cny("37.44"),  # completes the second on the last day of grace
        date(2024, 8, 10): cny("337.46"),
    }
    paid = cny("0")
    story: dict[date, tuple[list[str], str]] = {}
    day = TODAY
    while plan.status is PlanStatus.active and day < date(2024, 12, 31):
        paid = paid + payments.get(day, cny("0"))
        tracked = track(plan, paid, day)
        story[day] = ([str(i.status) for i in tracked.plan.instalments], str(tracked.status))
        if tracked.status is not PlanStatus.active:
            plan = tracked.plan
        day += timedelta(days=1)
    pending3 = ["pending"] * 3
    assert story[date(2024, 6, 8)] == (pending3, "active")
    assert story[date(2024, 6, 9)] == (["paid", "pending", "pending"], "active")
    assert story[date(2024, 7, 12)] == (["paid", "pending", "pending"], "active")
    assert story[date(2024, 7, 13)] == (["paid", "paid", "pending"], "active")
    assert story[date(2024, 8, 9)] == (["paid", "paid", "pending"], "active")
    assert story[date(2024, 8, 10)] == (["paid"] * 3, "completed")
    assert max(story) == date(2024, 8, 10)
    assert plan.status is PlanStatus.completed and plan.ended_on == date(2024, 8, 10)


def test_a_plan_broken_story() -> None:
    plan = active(propose(ARREARS, terms()))
    first = track(plan, cny("337.44"), date(2024, 7, 13))
    assert first.status is PlanStatus.active
    assert [i.status for i in first.plan.instalments] == [
        InstalmentStatus.paid,
        InstalmentStatus.pending,
        InstalmentStatus.pending,
    ]
    assert plan_days_past_due(first.plan.instalments, date(2024, 7, 13)) == 3
    second = track(plan, cny("337.44"), date(2024, 7, 14))
    assert second.status is PlanStatus.broken
    assert second.missed == (2,)
    assert second.plan.ended_on == date(2024, 7, 14)


def test_paying_everything_early_completes_the_plan_and_reports_the_excess() -> None:
    tracked = track(active(propose(ARREARS, terms())), cny("1100"), TODAY)
    assert tracked.status is PlanStatus.completed
    assert tracked.excess == cny("87.66")


def test_tracking_refuses_other_currencies_and_negative_payments() -> None:
    plan = active(propose(ARREARS, terms()))
    with pytest.raises(CurrencyMismatch):
        track(plan, Money.of(1, "USD"), TODAY)
    with pytest.raises(PlanTermsInvalid, match="negative"):
        track(plan, cny("-1"), TODAY)


amounts = st.integers(min_value=1, max_value=10**8).map(lambda n: Money.from_minor(n, "CNY"))


@settings(deadline=None)
@given(amounts, st.integers(min_value=1, max_value=24))
def test_instalments_always_sum_to_the_total_and_none_is_smaller_than_the_first(
    total: Money, count: int
) -> None:
    if total.to_minor() < count:
        return
    plan = propose({Component.principal: total}, terms(instalments=count))
    assert sum((i.amount for i in plan.instalments), cny("0")) == total
    assert all(i.amount >= plan.instalments[0].amount for i in plan.instalments)
    assert all(i.amount.amount > 0 for i in plan.instalments)


@settings(deadline=None)
@given(
    st.integers(min_value=0, max_value=150_000),
    st.integers(min_value=0, max_value=120),
)
def test_tracking_conserves_payments_and_pays_in_order(paid_minor: int, day: int) -> None:
    plan = active(propose(ARREARS, terms()))
    paid = Money.from_minor(paid_minor, "CNY")
    tracked = track(plan, paid, TODAY + timedelta(days=day))
    insts = tracked.plan.instalments
    assert sum((i.paid for i in insts), cny("0")) + tracked.excess == paid
    for older, younger in itertools.pairwise(insts):
        assert younger.paid.is_zero() or older.paid == older.amount


def test_a_plan_starts_at_the_latest_on_its_first_due_date() -> None:
    plan = propose(ARREARS, terms())
    assert activate(plan, FIRST).activated_on == FIRST
    with pytest.raises(PlanTermsInvalid, match="later first date"):
        activate(plan, FIRST + timedelta(days=1))
