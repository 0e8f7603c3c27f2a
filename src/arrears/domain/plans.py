"""Repayment plans: a new schedule for the arrears, agreed with the borrower.

A plan is proposed from the arrears by component (penalty and interest may be waived), split
into instalments (the last absorbs the rounding), activated — by the agent when within the
agent's limits, else by a team lead — and then tracked: what was paid towards the plan pays the
instalments in order; an instalment still unpaid more than `grace_days` after its due date is
missed and breaks the plan; when every instalment is paid the plan is completed.

A plan covers the arrears at the time it was agreed: the due items that fell due before it was
proposed. What counts towards it (`paid_towards`) is what the ledger applied to those items
from payments received on or after the day it became active. A regular instalment that falls
due while the plan runs is not the plan's: money applied to it (or to items not yet due, or kept
as credit) pays no plan instalment, and a payment on an account the plan does not cover neither.

    proposed ──activate──► active ──track──► completed | broken
        │                    │
        └──────cancel────────┴──► cancelled
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum

from arrears.domain.errors import DomainError
from arrears.domain.money import CurrencyMismatch, Money, quantum, split_evenly
from arrears.domain.products import Component
from arrears.domain.schedule import add_months

DEFAULT_GRACE_DAYS = 3


class PlanStatus(StrEnum):
    proposed = "proposed"
    active = "active"
    completed = "completed"
    broken = "broken"
    cancelled = "cancelled"


class InstalmentStatus(StrEnum):
    pending = "pending"
    paid = "paid"
    missed = "missed"


class PlanTermsInvalid(DomainError):
    pass


class PlanTransitionInvalid(DomainError):
    def __init__(self, current: PlanStatus, target: PlanStatus) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none: it is final"
        super().__init__(
            f"the plan is {current} and cannot become {target} (allowed from {current}: "
            f"{allowed}); propose a new plan instead"
        )


TRANSITIONS: dict[PlanStatus, frozenset[PlanStatus]] = {
    PlanStatus.proposed: frozenset({PlanStatus.active, PlanStatus.cancelled}),
    PlanStatus.active: frozenset({PlanStatus.completed, PlanStatus.broken, PlanStatus.cancelled}),
    PlanStatus.completed: frozenset(),
    PlanStatus.broken: frozenset(),
    PlanStatus.cancelled: frozenset(),
}


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """instalments every interval_months months (or every interval_days days, when given)."""

    instalments: int
    first_due_on: date
    interval_months: int = 1
    interval_days: int | None = None
    waive_penalty: bool = False
    waive_interest: bool = False
    grace_days: int = DEFAULT_GRACE_DAYS

    def __post_init__(self) -> None:
        if self.instalments < 1:
            raise PlanTermsInvalid(f"a plan of {self.instalments} instalments; use at least 1")
        if self.interval_days is not None and self.interval_months != 1:
            raise PlanTermsInvalid("give either interval_months or interval_days, not both")
        if self.interval_days is not None and self.interval_days < 1:
            raise PlanTermsInvalid(f"interval of {self.interval_days} days; use at least 1")
        if self.interval_days is None and self.interval_months < 1:
            raise PlanTermsInvalid(f"interval of {self.interval_months} months; use at least 1")
        if self.grace_days < 0:
            raise PlanTermsInvalid(f"grace of {self.grace_days} days; use 0 or more")

    def due_dates(self) -> list[date]:
        if self.interval_days is not None:
            step = timedelta(days=self.interval_days)
            return [self.first_due_on + step * k for k in range(self.instalments)]
        return [
            add_months(self.first_due_on, k * self.interval_months) for k in range(self.instalments)
        ]

    def waived_components(self) -> frozenset[Component]:
        waived = set()
        if self.waive_penalty:
            waived.add(Component.penalty)
        if self.waive_interest:
            waived.add(Component.interest)
        return frozenset(waived)


@dataclass(frozen=True, slots=True)
class PlanInstalment:
    seq: int
    due_on: date
    amount: Money
    paid: Money
    status: InstalmentStatus = InstalmentStatus.pending

    def outstanding(self) -> Money:
        return self.amount - self.paid


@dataclass(frozen=True, slots=True)
class RepaymentPlan:
    terms: PlanTerms
    arrears: Mapping[Component, Money]  # by component, when proposed
    waived: Money  # penalty and/or interest forgiven if the plan is kept
    total: Money  # what the borrower repays: arrears − waived
    instalments: tuple[PlanInstalment, ...]
    status: PlanStatus = PlanStatus.proposed
    activated_on: date | None = None
    ended_on: date | None = None
    waived_by_component: Mapping[Component, Money] = field(default_factory=dict)
    proposed_on: date | None = None  # the plan covers the items due before this day

    @property
    def currency(self) -> str:
        return self.total.currency

    def last_due_on(self) -> date:
        return self.instalments[-1].due_on


def propose(
    arrears_by_component: Mapping[Component, Money],
    terms: PlanTerms,
    proposed_on: date | None = None,
) -> RepaymentPlan:
    """A proposed plan for the arrears: total = arrears − waived components, split evenly.

    proposed_on: the day the arrears were taken (the plan covers the items due before it)."""
    if not arrears_by_component:
        raise PlanTermsInvalid("no arrears given; a plan needs the arrears by component")
    amounts = list(arrears_by_component.values())
    currency = amounts[0].currency
    zero = Money.zero(currency)
    for component, amount in arrears_by_component.items():
        if amount.currency != currency:
            raise CurrencyMismatch(currency, amount.currency)
        if amount < zero:
            raise PlanTermsInvalid(f"arrears of {component} is {amount}; it cannot be negative")
    arrears = sum(amounts, zero)
    waived_by = {
        c: arrears_by_component.get(c, zero)
        for c in sorted(terms.waived_components())
        if not arrears_by_component.get(c, zero).is_zero()
    }
    waived = sum(waived_by.values(), zero)
    total = arrears - waived
    smallest = Money(quantum(currency), currency) * terms.instalments
    if total < smallest:
        raise PlanTermsInvalid(
            f"{total} left to repay cannot make {terms.instalments} instalments; "
            "use fewer instalments (or settle without a plan)"
        )
    instalments = tuple(
        PlanInstalment(seq=n, due_on=due_on, amount=amount, paid=zero)
        for n, (due_on, amount) in enumerate(
            zip(terms.due_dates(), split_evenly(total, terms.instalments), strict=True), start=1
        )
    )
    return RepaymentPlan(
        terms=terms,
        arrears=dict(arrears_by_component),
        waived=waived,
        total=total,
        instalments=instalments,
        waived_by_component=waived_by,
        proposed_on=proposed_on,
    )


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """What an agent may agree alone; beyond it a team lead approves."""

    max_instalments: int
    max_waiver: Money
    max_term_days: int | None = None  # from the first to the last due date


def needs_approval(plan: RepaymentPlan, limits: PlanLimits) -> list[str]:
    """Why the plan needs a team lead's approval; empty when it is within the agent's limits."""
    reasons: list[str] = []
    count = len(plan.instalments)
    if count > limits.max_instalments:
        reasons.append(f"{count} instalments exceed the agent's limit of {limits.max_instalments}")
    if plan.waived > limits.max_waiver:
        reasons.append(f"waiver of {plan.waived} exceeds the agent's limit of {limits.max_waiver}")
    if limits.max_term_days is not None:
        term = (plan.last_due_on() - plan.terms.first_due_on).days
        if term > limits.max_term_days:
            reasons.append(
                f"plan runs {term} days, beyond the agent's limit of {limits.max_term_days}"
            )
    return reasons


def _move(plan: RepaymentPlan, target: PlanStatus) -> None:
    if target not in TRANSITIONS[plan.status]:
        raise PlanTransitionInvalid(plan.status, target)


def activate(plan: RepaymentPlan, on: date) -> RepaymentPlan:
    """The plan in force from `on`: payments from that day count towards it.

    A plan cannot start after its first instalment fell due (it would break at once); propose
    it again with a later first date.
    """
    _move(plan, PlanStatus.active)
    if on > plan.terms.first_due_on:
        raise PlanTermsInvalid(
            f"cannot activate on {on} a plan whose first instalment was due on "
            f"{plan.terms.first_due_on}; propose it again with a later first date"
        )
    return replace(plan, status=PlanStatus.active, activated_on=on)


def cancel(plan: RepaymentPlan, on: date) -> RepaymentPlan:
    _move(plan, PlanStatus.cancelled)
    return replace(plan, status=PlanStatus.cancelled, ended_on=on)


@dataclass(frozen=True, slots=True)
class TrackedPlan:
    plan: RepaymentPlan  # instalments with paid amounts and statuses; status moved if due
    excess: Money  # paid beyond the plan's total
    missed: tuple[int, ...]  # seq of missed instalments

    @property
    def status(self) -> PlanStatus:
        return self.plan.status


@dataclass(frozen=True, slots=True)
class Applied:
    """Part of a payment the ledger applied to one due item (an allocation of the waterfall)."""

    received_on: date  # the payment's
    item_due_on: date  # the due item's it paid
    amount: Money


def paid_towards(plan: RepaymentPlan, applied: Iterable[Applied], as_of: date) -> Money:
    """What was paid towards the plan by as_of: the amounts applied, from payments received
    from the day it became active to as_of, to the items it covers (due before it was proposed).

    Pass the allocations of the accounts of the plan's case; the ledger's waterfall decides
    which item a payment paid (oldest first), this decides which of them were the plan's.
    """
    if plan.activated_on is None or plan.proposed_on is None:
        raise PlanTermsInvalid(
            "a plan is tracked from its activation day over the items due before it was "
            "proposed; this plan lacks one of those dates"
        )
    total = Money.zero(plan.currency)
    for a in applied:
        if a.amount.currency != plan.currency:
            raise CurrencyMismatch(plan.currency, a.amount.currency)
        if plan.activated_on <= a.received_on <= as_of and a.item_due_on < plan.proposed_on:
            total = total + a.amount
    return total


def track(plan: RepaymentPlan, paid_towards_plan: Money, as_of: date) -> TrackedPlan:
    """Apply what was paid towards the plan (see `paid_towards`) to the instalments, in order.

    An instalment is missed when it is not fully paid and as_of is more than grace_days after
    its due date (grace 3, due 10 June: still pending on 13 June, missed on 14 June).
    """
    if plan.status is not PlanStatus.active:
        raise PlanTransitionInvalid(plan.status, PlanStatus.active)
    if paid_towards_plan.currency != plan.currency:
        raise CurrencyMismatch(plan.currency, paid_towards_plan.currency)
    if paid_towards_plan.amount < 0:
        raise PlanTermsInvalid(f"paid amount {paid_towards_plan} is negative")
    left = paid_towards_plan
    grace = plan.terms.grace_days
    instalments: list[PlanInstalment] = []
    for inst in plan.instalments:
        paid = left.min(inst.amount)
        left = left - paid
        if paid == inst.amount:
            status = InstalmentStatus.paid
        elif (as_of - inst.due_on).days > grace:
            status = InstalmentStatus.missed
        else:
            status = InstalmentStatus.pending
        instalments.append(replace(inst, paid=paid, status=status))
    missed = tuple(i.seq for i in instalments if i.status is InstalmentStatus.missed)
    updated = replace(plan, instalments=tuple(instalments))
    if missed:
        updated = replace(updated, status=PlanStatus.broken, ended_on=as_of)
    elif all(i.status is InstalmentStatus.paid for i in instalments):
        updated = replace(updated, status=PlanStatus.completed, ended_on=as_of)
    return TrackedPlan(plan=updated, excess=left, missed=missed)
