"""Record what an agent (or a channel) learned, and what follows from it the same day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, select, update

from arrears.domain.outcomes import (
    CONNECTED,
    HardshipKind,
    Outcome,
    Target,
    check_outcome,
    makes_borrower_unreachable,
)
from arrears.engine.gate import DayGate
from arrears.engine.plan_actions import plan_actions
from arrears.services.disputes import DisputeSource, record_dispute
from arrears.store import tables as t


class CaseNotFound(LookupError):
    pass


@dataclass(frozen=True)
class OutcomeResult:
    interaction_id: int
    borrower_unreachable: bool
    planned_actions: int


_CONTACT_STATUS = {Outcome.CONTACT_REFUSED: "refused", Outcome.WRONG_NUMBER: "wrong_number"}
_PHONE_STATUS = {Outcome.WRONG_NUMBER: "wrong", Outcome.OUT_OF_SERVICE: "out_of_service"}


def record_outcome(
    conn: Connection,
    *,
    case_id: int,
    target_type: str,
    target_id: str,
    channel: str,
    outcome: str,
    at: datetime,
    business_date: date,
    agent: str | None,
    action_id: int | None = None,
    hardship: str | None = None,
    note: str | None = None,
    gate: DayGate | None = None,
    rule_pack: str = "cn",
    interaction_id: int | None = None,
) -> OutcomeResult:
    """Record the outcome; `interaction_id` completes the interaction of a call the dialler
    placed (its known outcome — no answer, busy, answered — becomes what the agent says)."""
    target, result = Target(target_type), Outcome(outcome)
    kind = HardshipKind(hardship) if hardship else None
    check_outcome(target, result, kind)
    case = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).one_or_none()
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    if interaction_id is not None:
        conn.execute(
            update(t.interactions)
            .where(t.interactions.c.id == interaction_id, t.interactions.c.case_id == case_id)
            .values(
                outcome=result,
                hardship=kind,
                note=note,
                agent=agent,
                **({"action_id": action_id} if action_id is not None else {}),
            )
        )
    else:
        interaction_id = conn.execute(
            insert(t.interactions)
            .values(
                case_id=case_id,
                action_id=action_id,
                occurred_at=at,
                business_date=business_date,
                channel=channel,
                target_type=target,
                target_id=target_id,
                outcome=result,
                hardship=kind,
                note=note,
                agent=agent,
            )
            .returning(t.interactions.c.id)
        ).scalar_one()
    if action_id is not None:
        conn.execute(
            update(t.actions)
            .where(t.actions.c.id == action_id, t.actions.c.status.in_(["planned", "deferred"]))
            .values(status="done", completed_at=at)
        )
    if result in CONNECTED and result is not Outcome.CONTACT_REFUSED:
        # the borrower, or a contact willing to help, was reached: the day's other calls to
        # contacts are moot
        conn.execute(
            update(t.actions)
            .where(
                t.actions.c.case_id == case_id,
                t.actions.c.business_date == business_date,
                t.actions.c.channel == "call",
                t.actions.c.target_type == Target.CONTACT.value,
                t.actions.c.status.in_(["planned", "deferred"]),
            )
            .values(status="cancelled", reason="someone was reached on this case today")
        )
    _update_parties(conn, case.borrower_id, target, target_id, result)
    if result is Outcome.DISPUTE:  # collection of the case pauses until verified or withdrawn
        record_dispute(
            conn,
            source=DisputeSource.AGENT,
            on=business_date,
            by=agent or "agent",
            at=at,
            case_id=case_id,
            reason=note,
        )
    case_changes: dict[str, object] = {}
    if result in CONNECTED:
        case_changes["last_contact_on"] = business_date
    if kind is not None:
        case_changes.update(hardship=kind, hardship_note=note)
    unreachable = makes_borrower_unreachable(target, result)
    if unreachable:
        case_changes["unreachable_on"] = business_date
    if case_changes:
        conn.execute(update(t.cases).where(t.cases.c.id == case_id).values(**case_changes))
    planned = 0
    if unreachable or kind is not None:
        planned = plan_actions(conn, business_date, case_ids=[case_id])
        if planned and gate is not None:
            gate(conn, business_date, rule_pack)
    return OutcomeResult(interaction_id, unreachable, planned)


def _update_parties(
    conn: Connection, borrower_id: str, target: Target, target_id: str, result: Outcome
) -> None:
    if target is Target.CONTACT and result in _CONTACT_STATUS:
        conn.execute(
            update(t.contacts)
            .where(t.contacts.c.id == target_id, t.contacts.c.borrower_id == borrower_id)
            .values(status=_CONTACT_STATUS[result])
        )
    if target is Target.BORROWER and result in _PHONE_STATUS:
        conn.execute(
            update(t.borrowers)
            .where(t.borrowers.c.id == borrower_id)
            .values(phone_status=_PHONE_STATUS[result])
        )
