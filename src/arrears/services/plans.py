"""Repayment plans: preview with a live calculator, propose within the agent's limits, approve.

A plan covers the borrower's arrears as of the day it is proposed. When it becomes active the
waived components are written off on the overdue due items, so the arrears left equal the
plan's total; the daily run then tracks instalments from the payments received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, insert, select, update

from arrears.domain.money import Money
from arrears.domain.plans import (
    PlanLimits,
    PlanStatus,
    PlanTerms,
    PlanTransitionInvalid,
    RepaymentPlan,
    needs_approval,
    propose,
)
from arrears.domain.products import Component
from arrears.services.outcomes import CaseNotFound
from arrears.store import tables as t


class PlanNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ProposedPlan:
    plan_id: int
    status: PlanStatus
    approval_reasons: list[str]


def agent_limits(currency: str) -> PlanLimits:
    """An agent agrees up to two instalments and no waiver alone; a team lead the rest."""
    return PlanLimits(max_instalments=2, max_waiver=Money.zero(currency))


def arrears_by_component(conn: Connection, case_id: int, as_of: date) -> dict[Component, Money]:
    case = _case(conn, case_id)
    i, a = t.due_items, t.accounts
    sums = conn.execute(
        select(*(func.coalesce(func.sum(i.c[c] - i.c[f"paid_{c}"]), 0) for c in Component))
        .select_from(i.join(a, a.c.id == i.c.account_id))
        .where(a.c.borrower_id == case.borrower_id, i.c.due_on < as_of)
    ).one()
    return {
        c: Money.from_minor(int(v), case.currency) for c, v in zip(Component, sums, strict=True)
    }


def preview_plan(conn: Connection, case_id: int, terms: PlanTerms, as_of: date) -> RepaymentPlan:
    return propose(arrears_by_component(conn, case_id, as_of), terms)


def propose_plan(
    conn: Connection,
    *,
    case_id: int,
    terms: PlanTerms,
    proposed_on: date,
    by: str | None,
    limits: PlanLimits | None = None,
    reason: str | None = None,
) -> ProposedPlan:
    """Record a plan; within the proposer's limits it is active at once."""
    case = _case(conn, case_id)
    plan = preview_plan(conn, case_id, terms, proposed_on)
    reasons = needs_approval(plan, limits or agent_limits(case.currency))
    plan_id = conn.execute(
        insert(t.plans)
        .values(
            case_id=case_id,
            status=PlanStatus.proposed,
            proposed_on=proposed_on,
            currency=plan.currency,
            total=plan.total.to_minor(),
            waived=plan.waived.to_minor(),
            instalments=terms.instalments,
            first_due_on=terms.first_due_on,
            grace_days=terms.grace_days,
            waive_penalty=terms.waive_penalty,
            waive_interest=terms.waive_interest,
            proposed_by=by,
            reason=reason,
        )
        .returning(t.plans.c.id)
    ).scalar_one()
    conn.execute(
        insert(t.plan_instalments),
        [
            {"plan_id": plan_id, "seq": i.seq, "due_on": i.due_on, "amount": i.amount.to_minor()}
            for i in plan.instalments
        ],
    )
    if not reasons:
        approve_plan(conn, plan_id, by=by, on=proposed_on)
        return ProposedPlan(plan_id, PlanStatus.active, [])
    return ProposedPlan(plan_id, PlanStatus.proposed, reasons)


def approve_plan(conn: Connection, plan_id: int, *, by: str | None, on: date) -> None:
    """proposed → active: other proposals of the case are cancelled, waivers written off."""
    plan = conn.execute(select(t.plans).where(t.plans.c.id == plan_id)).one_or_none()
    if plan is None:
        raise PlanNotFound(f"no plan {plan_id}")
    if plan.status != PlanStatus.proposed:
        raise PlanTransitionInvalid(PlanStatus(plan.status), PlanStatus.active)
    conn.execute(
        update(t.plans)
        .where(t.plans.c.case_id == plan.case_id, t.plans.c.status == PlanStatus.proposed)
        .where(t.plans.c.id != plan_id)
        .values(status=PlanStatus.cancelled, ended_on=on)
    )
    conn.execute(
        update(t.plans)
        .where(t.plans.c.id == plan_id)
        .values(status=PlanStatus.active, activated_on=on, approved_by=by)
    )
    _write_off(conn, plan.case_id, on, plan.waive_penalty, plan.waive_interest)


def cancel_plan(conn: Connection, plan_id: int, *, on: date) -> None:
    plan = conn.execute(select(t.plans).where(t.plans.c.id == plan_id)).one_or_none()
    if plan is None:
        raise PlanNotFound(f"no plan {plan_id}")
    if plan.status not in (PlanStatus.proposed, PlanStatus.active):
        raise PlanTransitionInvalid(PlanStatus(plan.status), PlanStatus.cancelled)
    conn.execute(
        update(t.plans)
        .where(t.plans.c.id == plan_id)
        .values(status=PlanStatus.cancelled, ended_on=on)
    )


def _write_off(
    conn: Connection, case_id: int, on: date, waive_penalty: bool, waive_interest: bool
) -> None:
    i = t.due_items
    borrower = select(t.cases.c.borrower_id).where(t.cases.c.id == case_id).scalar_subquery()
    accounts = select(t.accounts.c.id).where(t.accounts.c.borrower_id == borrower)
    for waive, part in ((waive_penalty, "penalty"), (waive_interest, "interest")):
        if not waive:
            continue
        conn.execute(
            update(i)
            .where(i.c.account_id.in_(accounts), i.c.due_on < on)
            .values(
                {
                    "waived": i.c.waived + i.c[part] - i.c[f"paid_{part}"],
                    f"paid_{part}": i.c[part],
                }
            )
        )


def _case(conn: Connection, case_id: int):  # type: ignore[no-untyped-def]
    case = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).one_or_none()
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    return case
