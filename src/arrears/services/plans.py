"""Repayment plans: preview with a live calculator, propose within the agent's limits, approve.

A plan covers the borrower's arrears as of the day it is proposed (the items due before it).
When it becomes active the waived components are written off on those items, so the arrears
left equal the plan's total; the daily run then tracks instalments from what the ledger applies
to those items (`arrears.domain.plans.paid_towards`). Status changes go through the domain's
`activate` and `cancel`, so an illegal one raises PlanTransitionInvalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, insert, select, update

from arrears.domain.money import Money
from arrears.domain.plans import (
    InstalmentStatus,
    PlanInstalment,
    PlanLimits,
    PlanStatus,
    PlanTerms,
    PlanTransitionInvalid,
    RepaymentPlan,
    activate,
    cancel,
    needs_approval,
    propose,
)
from arrears.domain.products import Component
from arrears.engine.delinquency import reassess
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
    return propose(arrears_by_component(conn, case_id, as_of), terms, proposed_on=as_of)


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
    """proposed → active through the domain's `activate`: a plan that is not proposed raises
    PlanTransitionInvalid, one whose first instalment already fell due PlanTermsInvalid. Other
    proposals of the case are cancelled (`cancel`); waived components are written off."""
    row = _plan_row(conn, plan_id)
    active = activate(load_plan(conn, plan_id), on)
    for other in (
        conn.execute(
            select(t.plans.c.id).where(
                t.plans.c.case_id == row.case_id,
                t.plans.c.status == PlanStatus.proposed,
                t.plans.c.id != plan_id,
            )
        )
        .scalars()
        .all()
    ):
        _save_status(conn, other, PlanStatus.proposed, cancel(load_plan(conn, other), on))
    _save_status(conn, plan_id, PlanStatus.proposed, active, approved_by=by)
    _write_off(conn, row.case_id, row.proposed_on, row.waive_penalty, row.waive_interest)


def cancel_plan(conn: Connection, plan_id: int, *, on: date) -> None:
    """proposed or active → cancelled through the domain's `cancel`; a plan already completed,
    broken or cancelled raises PlanTransitionInvalid."""
    plan = load_plan(conn, plan_id)
    _save_status(conn, plan_id, plan.status, cancel(plan, on))


def load_plan(conn: Connection, plan_id: int) -> RepaymentPlan:
    """The stored plan as the domain's RepaymentPlan (instalments with what they were paid).

    The arrears by component are not stored (only the total and the waiver), so the mapping is
    empty; the interval is not stored either: the instalments carry their own dates."""
    row = _plan_row(conn, plan_id)
    terms = PlanTerms(
        instalments=row.instalments,
        first_due_on=row.first_due_on,
        waive_penalty=row.waive_penalty,
        waive_interest=row.waive_interest,
        grace_days=row.grace_days,
    )
    pi = t.plan_instalments.c
    instalments = tuple(
        PlanInstalment(
            seq=i.seq,
            due_on=i.due_on,
            amount=Money.from_minor(i.amount, row.currency),
            paid=Money.from_minor(i.paid_amount, row.currency),
            status=InstalmentStatus(i.status),
        )
        for i in conn.execute(
            select(pi.seq, pi.due_on, pi.amount, pi.paid_amount, pi.status)
            .where(pi.plan_id == plan_id)
            .order_by(pi.seq)
        )
    )
    return RepaymentPlan(
        terms=terms,
        arrears={},
        waived=Money.from_minor(row.waived, row.currency),
        total=Money.from_minor(row.total, row.currency),
        instalments=instalments,
        status=PlanStatus(row.status),
        activated_on=row.activated_on,
        ended_on=row.ended_on,
        proposed_on=row.proposed_on,
    )


def _save_status(
    conn: Connection,
    plan_id: int,
    was: PlanStatus,
    plan: RepaymentPlan,
    approved_by: str | None = None,
) -> None:
    """Write the domain's new status, only over the status it moved from: a concurrent change
    (another lead approved or cancelled meanwhile) raises PlanTransitionInvalid instead."""
    values: dict[str, object] = {
        "status": plan.status.value,
        "activated_on": plan.activated_on,
        "ended_on": plan.ended_on,
    }
    if plan.status is PlanStatus.active:
        values["approved_by"] = approved_by
    changed = conn.execute(
        update(t.plans).where(t.plans.c.id == plan_id, t.plans.c.status == was).values(values)
    ).rowcount
    if changed != 1:
        now = conn.execute(select(t.plans.c.status).where(t.plans.c.id == plan_id)).scalar_one()
        raise PlanTransitionInvalid(PlanStatus(now), plan.status)


def _plan_row(conn: Connection, plan_id: int):  # type: ignore[no-untyped-def]
    row = conn.execute(select(t.plans).where(t.plans.c.id == plan_id)).one_or_none()
    if row is None:
        raise PlanNotFound(f"no plan {plan_id}")
    return row


def _write_off(
    conn: Connection, case_id: int, on: date, waive_penalty: bool, waive_interest: bool
) -> None:
    i = t.due_items
    borrower = select(t.cases.c.borrower_id).where(t.cases.c.id == case_id).scalar_subquery()
    accounts = select(t.accounts.c.id).where(t.accounts.c.borrower_id == borrower)
    if waive_penalty or waive_interest:  # assessed from their items again: they owe less
        reassess(conn, conn.execute(accounts).scalars())
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
