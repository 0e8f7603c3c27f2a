"""Plan approval and cancellation go through the domain's state transitions: an illegal one
raises a named error and changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Connection, Engine, select

from arrears.domain.plans import PlanStatus, PlanTerms, PlanTermsInvalid, PlanTransitionInvalid
from arrears.engine.run_day import run_day
from arrears.services.plans import approve_plan, cancel_plan, propose_plan
from arrears.store import tables as t
from tests import factories as f

DUE = date(2026, 3, 1)
DAY = DUE + timedelta(days=1)


def _case(db: Engine) -> int:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(DUE, 90000, 0)])
    run_day(db, DAY)
    with db.connect() as conn:
        return int(conn.execute(select(t.cases.c.id)).scalar_one())


def _propose(conn: Connection, case_id: int, instalments: int = 3) -> int:
    terms = PlanTerms(instalments=instalments, first_due_on=DAY + timedelta(days=7))
    return propose_plan(conn, case_id=case_id, terms=terms, proposed_on=DAY, by="agent").plan_id


def _status(conn: Connection, plan_id: int) -> tuple[str, date | None, date | None, str | None]:
    p = t.plans.c
    row = conn.execute(
        select(p.status, p.activated_on, p.ended_on, p.approved_by).where(p.id == plan_id)
    ).one()
    return row.status, row.activated_on, row.ended_on, row.approved_by


def test_approval_activates_once_and_cancels_the_other_proposals(db: Engine) -> None:
    case_id = _case(db)
    with db.begin() as conn:
        first, second = _propose(conn, case_id), _propose(conn, case_id, 4)
        approve_plan(conn, second, by="lead", on=DAY)
        assert _status(conn, second) == (PlanStatus.active, DAY, None, "lead")
        assert _status(conn, first) == (PlanStatus.cancelled, None, DAY, None)
        with pytest.raises(PlanTransitionInvalid, match="is active and cannot become active"):
            approve_plan(conn, second, by="lead", on=DAY)
        with pytest.raises(PlanTransitionInvalid, match="is cancelled and cannot become active"):
            approve_plan(conn, first, by="lead", on=DAY)
        cancel_plan(conn, second, on=DAY + timedelta(days=1))
        assert _status(conn, second) == (PlanStatus.cancelled, DAY, DAY + timedelta(days=1), "lead")
        with pytest.raises(PlanTransitionInvalid, match="final"):
            cancel_plan(conn, second, on=DAY + timedelta(days=2))


def test_a_plan_cannot_be_approved_after_its_first_instalment_fell_due(db: Engine) -> None:
    case_id = _case(db)
    with db.begin() as conn:
        plan_id = _propose(conn, case_id)
        late = DAY + timedelta(days=8)
        with pytest.raises(PlanTermsInvalid, match="propose it again with a later first date"):
            approve_plan(conn, plan_id, by="lead", on=late)
        assert _status(conn, plan_id) == (PlanStatus.proposed, None, None, None)


def test_a_completed_plan_cannot_be_cancelled(db: Engine) -> None:
    case_id = _case(db)
    with db.begin() as conn:
        plan_id = _propose(conn, case_id, instalments=1)  # within the agent's limits: active
        assert _status(conn, plan_id)[0] == PlanStatus.active
        f.payment(conn, "P1", "A1", 90000, DAY + timedelta(days=1))
    run_day(db, DAY + timedelta(days=1))
    with db.begin() as conn:
        assert _status(conn, plan_id)[0] == PlanStatus.completed
        with pytest.raises(PlanTransitionInvalid, match="is completed and cannot become cancelled"):
            cancel_plan(conn, plan_id, on=DAY + timedelta(days=2))
