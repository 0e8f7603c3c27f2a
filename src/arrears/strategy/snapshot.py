"""Read what the strategy may know of open cases into pure snapshots for the reference
evaluator (`arrears strategy explain`, and the tests that hold the compiled engine to it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, select

from arrears.domain.strategy.evaluate import (
    AccountFacts,
    CaseSnapshot,
    ContactFacts,
    InstalmentFacts,
    PlanFacts,
    PromiseFacts,
)
from arrears.store.tables import (
    accounts,
    borrowers,
    cases,
    contacts,
    plan_instalments,
    plans,
    promises,
)
from arrears.store.tables_lab import lab_scores
from arrears.store.tables_strategy import strategy_assignments


def _date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _decimal(value: float | None) -> Decimal | None:
    """A stored score as the decimal it was written as (six places)."""
    return None if value is None else Decimal(str(round(value, 6)))


def load_snapshots(
    conn: Connection,
    strategy_name: str,
    case_ids: Sequence[int] | None = None,
    as_of: date | None = None,
) -> list[CaseSnapshot]:
    """The open cases' snapshots; with a date, their scores of that date (`lab_scores`)."""
    q = select(cases).where(cases.c.status == "open")
    if case_ids is not None:
        q = q.where(cases.c.id.in_(list(case_ids)))
    case_rows = conn.execute(q.order_by(cases.c.id)).mappings().all()
    if not case_rows:
        return []
    ids = [r["id"] for r in case_rows]
    bids = sorted({r["borrower_id"] for r in case_rows})
    bor = {
        r["id"]: r
        for r in conn.execute(select(borrowers).where(borrowers.c.id.in_(bids))).mappings()
    }
    accs: dict[str, list[AccountFacts]] = defaultdict(list)
    for r in conn.execute(select(accounts).where(accounts.c.borrower_id.in_(bids))).mappings():
        accs[r["borrower_id"]].append(
            AccountFacts(r["id"], r["product"], r["dpd"], r["overdue_amount"], r["outstanding"])
        )
    cons: dict[str, list[ContactFacts]] = defaultdict(list)
    for r in conn.execute(select(contacts).where(contacts.c.borrower_id.in_(bids))).mappings():
        cons[r["borrower_id"]].append(ContactFacts(r["id"], bool(r["consent"]), r["status"]))
    proms: dict[int, list[PromiseFacts]] = defaultdict(list)
    for r in conn.execute(select(promises).where(promises.c.case_id.in_(ids))).mappings():
        proms[r["case_id"]].append(
            PromiseFacts(r["id"], r["made_on"], r["due_on"], r["status"], r["settled_on"])
        )
    inst: dict[int, list[InstalmentFacts]] = defaultdict(list)
    plan_rows = conn.execute(select(plans).where(plans.c.case_id.in_(ids))).mappings().all()
    pids = [r["id"] for r in plan_rows]
    if pids:
        for r in conn.execute(
            select(plan_instalments).where(plan_instalments.c.plan_id.in_(pids))
        ).mappings():
            inst[r["plan_id"]].append(InstalmentFacts(r["due_on"], r["status"]))
    pls: dict[int, list[PlanFacts]] = defaultdict(list)
    for r in plan_rows:
        pls[r["case_id"]].append(
            PlanFacts(r["id"], r["proposed_on"], r["status"], tuple(inst[r["id"]]))
        )
    assigned = {
        r[0]: r[1]
        for r in conn.execute(
            select(strategy_assignments.c.case_id, strategy_assignments.c.variant).where(
                strategy_assignments.c.strategy == strategy_name,
                strategy_assignments.c.case_id.in_(ids),
            )
        )
    }
    scored: dict[int, tuple[Decimal | None, Decimal | None]] = {}
    if as_of is not None:
        ls = lab_scores
        for case_id, pay, cure in conn.execute(
            select(ls.c.case_id, ls.c.p_pay_30, ls.c.p_self_cure).where(
                ls.c.as_of == as_of, ls.c.case_id.in_(ids)
            )
        ):
            scored[int(case_id)] = (_decimal(pay), _decimal(cure))
    out: list[CaseSnapshot] = []
    for c in case_rows:
        b = bor[c["borrower_id"]]
        out.append(
            CaseSnapshot(
                case_id=c["id"],
                borrower_id=c["borrower_id"],
                currency=c["currency"],
                opened_on=c["opened_on"],
                dpd=c["dpd"],
                bucket=c["bucket"],
                overdue_minor=c["overdue_amount"],
                language=b["language"],
                phone_status=b["phone_status"],
                risk_score=b["risk_score"],
                region=b["region"],
                hardship=c["hardship"],
                unreachable_on=_date(c["unreachable_on"]),
                last_contact_on=_date(c["last_contact_on"]),
                accounts=tuple(accs[c["borrower_id"]]),
                promises=tuple(proms[c["id"]]),
                plans=tuple(pls[c["id"]]),
                contacts=tuple(cons[c["borrower_id"]]),
                assigned_variant=assigned.get(c["id"]),
                p_pay_30=scored.get(c["id"], (None, None))[0],
                p_self_cure=scored.get(c["id"], (None, None))[1],
            )
        )
    return out
