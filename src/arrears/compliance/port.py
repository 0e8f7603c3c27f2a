"""The compliance port: the one verdict the platform acts on, at plan time, at send time, at dial
time and in the web, and the calls that produce it.

- `check_dial(conn, case_id=…, target=…, contact_id=…, at=…)`: the moment an agent (or the
  dialler) places a call. The rule pack is consulted again at that moment — hours, holidays,
  per-day caps, flags, the rules on contact persons — with the counters read from the database
  now, and the decision is recorded (`gate_decisions`, stage 'dial').
- `check_sends(conn, action_ids, at)`: the dispatcher's batch at send time.

Each is judged under the rule pack of the borrower's jurisdiction (`pack_choice`: the mapped
jurisdictions, else the portfolio default), read from the database at that moment.
- `verdict_of(decision, at)`: a rule-pack decision as the verdict for the moment `at`.
- `stored_verdict(action, at)`: the verdict the gate stored on an action (lists, forms), no
  rule evaluated.

The gate fails closed: when the rule pack cannot be loaded, every call here raises
`RulePackUnavailable` and nothing is planned, sent or dialled.

A verdict's reason is a rule id with parameters (`rule_id`, `params`) that the web renders in
the user's language; `reason` is the rule's own sentence (English), for logs and the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import Connection, func, insert, select, update

from arrears.compliance.loading import (
    RulePackUnavailable,
    load_pack,
    pack_choice,
    portfolio_pack,
)
from arrears.compliance.rules.clock import local_date
from arrears.compliance.rules.model import Decision, VerdictKind
from arrears.compliance.rules.pack import Pack
from arrears.compliance.send import check_action, check_actions
from arrears.domain.outcomes import Target
from arrears.store import tables as t
from arrears.store.handover import is_in_legal
from arrears.store.tables_agency import placements

PLACED_WITH_AGENCY = "placed_with_agency"  # not a pack's rule: the lender placed the case
IN_LEGAL = "in_legal"  # not a pack's rule: the lender referred the case to its legal team


class DialTargetUnknown(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what}; a call goes to the case's borrower or one of their contacts")


@dataclass(frozen=True, slots=True)
class Verdict:
    """allow now, defer to `next_allowed_at`, or block — with the deciding rule and its
    parameters (for the reason in the user's language)."""

    kind: VerdictKind
    rule_id: str | None = None
    reason: str | None = None
    next_allowed_at: datetime | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    pack: str | None = None
    action_id: int | None = None  # the action the decision is recorded against

    @property
    def allowed(self) -> bool:
        return self.kind is VerdictKind.ALLOW

    @property
    def rule_name(self) -> str | None:
        """The rule without its pack ("time_window"): the key of its sentence in the catalogue."""
        return self.rule_id.split(".", 1)[1] if self.rule_id and "." in self.rule_id else None


ALLOW = Verdict(VerdictKind.ALLOW)


# --- verdicts from decisions ---------------------------------------------------------------------


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def reason_params(pack: Pack | None, rule_id: str | None, until: datetime | None) -> dict[str, str]:
    """What a sentence about the rule needs: the pack's hours and caps, the moment it frees."""
    params: dict[str, str] = {}
    if until is not None:
        params["until"] = until.astimezone(UTC).isoformat()
    if pack is None or not rule_id:
        return params
    params["pack"] = pack.code
    name = rule_id.split(".", 1)[-1]
    if name == "time_window":
        params["window"] = str(pack.window)
    elif name == "connected_calls_per_day" and pack.connected_calls_per_day is not None:
        params["cap"] = str(pack.connected_calls_per_day)
    elif name == "attempts_per_number_per_day" and pack.attempts_per_number_per_day is not None:
        params["cap"] = str(pack.attempts_per_number_per_day)
    elif name == "attempts_per_debt_7_days" and pack.attempts_per_debt_7_days is not None:
        params["cap"] = str(pack.attempts_per_debt_7_days)
    elif name == "quiet_after_conversation" and pack.quiet_days_after_conversation is not None:
        params["days"] = str(pack.quiet_days_after_conversation)
    elif name.startswith("flag_"):
        params["flag"] = name.removeprefix("flag_")
    return params


def verdict_of(
    decision: Decision, at: datetime, *, pack: Pack | None = None, action_id: int | None = None
) -> Verdict:
    """The rule pack's decision as what may happen at `at`: an allow from a later moment of the
    day is a deferral to that moment."""
    moment = _utc(decision.at)
    now = at.astimezone(UTC)
    if decision.verdict is VerdictKind.BLOCK:
        kind, nxt = VerdictKind.BLOCK, None
    elif decision.verdict is VerdictKind.ALLOW and (moment is None or moment <= now):
        kind, nxt = VerdictKind.ALLOW, None
    else:
        kind, nxt = VerdictKind.DEFER, moment
    if kind is VerdictKind.ALLOW:
        return Verdict(kind, pack=decision.pack, action_id=action_id)
    rule_id = decision.rule_id
    if rule_id is None and decision.violations:  # allowed later the same day, by these rules
        rule_id = decision.violations[-1].rule_id
    return Verdict(
        kind,
        rule_id,
        decision.reason,
        nxt,
        reason_params(pack, rule_id, nxt),
        decision.pack,
        action_id,
    )


def stored_verdict(action: Any, at: datetime) -> Verdict:
    """The verdict the gate stored on an `actions` row (lists and forms: no rule evaluated)."""
    status = action.status
    if status == "blocked":
        return Verdict(
            VerdictKind.BLOCK,
            action.rule_id,
            action.reason or "blocked by the rule pack",
            None,
            reason_params(None, action.rule_id, None),
            action_id=action.id,
        )
    if status in ("done", "cancelled"):
        return Verdict(
            VerdictKind.BLOCK,
            None,
            f"this action is {status}",
            None,
            {"status": status},
            None,
            action.id,
        )
    scheduled = _utc(action.scheduled_at)
    if scheduled is not None and scheduled > at.astimezone(UTC):
        return Verdict(
            VerdictKind.DEFER,
            action.rule_id,
            action.reason or "outside the hours the rule pack allows",
            scheduled,
            reason_params(None, action.rule_id, scheduled),
            action_id=action.id,
        )
    return Verdict(VerdictKind.ALLOW, action_id=action.id)


# --- send time -----------------------------------------------------------------------------------


def check_sends(
    conn: Connection, action_ids: Iterable[int], at: datetime, *, rule_pack: str | None = None
) -> dict[int, Verdict]:
    """The dispatcher's re-check of many actions at the moment of sending, recorded."""
    choice = pack_choice(conn)
    forced = load_pack(rule_pack) if rule_pack else None
    decided = check_actions(conn, action_ids, at, rule_pack=rule_pack)
    return {
        aid: verdict_of(d, at, pack=forced or load_pack(d.pack or choice.default), action_id=aid)
        for aid, d in decided.items()
    }


def ask_for_message(
    conn: Connection,
    *,
    case_id: int,
    business_date: date,
    step: str,
    target_id: str,
    channel: str,
    template: str,
    at: datetime,
    deferred_status: str = "deferred",
) -> Verdict:
    """A message to the borrower someone wants to send now (an agency's text, the legal team's
    letter), judged at send time as the dispatcher's are and recorded as an action of its own:
    done when allowed, else `deferred_status` (the asker asks again at `next_allowed_at`) or
    blocked, with the rule."""
    a = t.actions
    action_id = conn.execute(
        insert(a)
        .values(
            case_id=case_id,
            business_date=business_date,
            step=step[:64],
            target_type=Target.BORROWER.value,
            target_id=target_id,
            channel=channel,
            template=template,
            status="planned",
            priority=5,
        )
        .returning(a.c.id)
    ).scalar_one()
    verdict = check_sends(conn, [action_id], at)[action_id]
    status = {
        VerdictKind.ALLOW: "done",
        VerdictKind.DEFER: deferred_status,
        VerdictKind.BLOCK: "blocked",
    }[verdict.kind]
    conn.execute(
        update(a)
        .where(a.c.id == action_id)
        .values(
            status=status,
            rule_id=verdict.rule_id,
            reason=None if verdict.allowed else verdict.reason,
            scheduled_at=at if verdict.allowed else verdict.next_allowed_at,
            completed_at=at if verdict.allowed else None,
        )
    )
    return verdict


# --- dial time -----------------------------------------------------------------------------------


def _business_date(conn: Connection, at: datetime, tz: str) -> date:
    """The business date the floor works on (the last daily run's), else the local date."""
    last = conn.scalar(select(func.max(t.run_log.c.business_date)))
    if isinstance(last, str):
        return date.fromisoformat(last[:10])
    if isinstance(last, date):
        return last
    return local_date(at, tz)


def check_dial(
    conn: Connection,
    *,
    case_id: int,
    target: str,
    contact_id: int | str | None,
    at: datetime,
    record: bool = True,
    action_id: int | None = None,
    agent: str | None = None,
    agency: str | None = None,
) -> Verdict:
    """May this call be placed now? The rule pack decides at `at` and the decision is recorded.

    The call is judged as the day's planned call to that person when there is one (`action_id`
    names it, or it is found); else as an agent-initiated call, recorded as an action of its own
    (status 'done' when allowed — the call's outcome is its interaction — else 'deferred' or
    'blocked' with the rule). `record=False` judges without leaving a trace (a preview).
    A case placed with an external agency is called only by that agency (`agency`) until it is
    recalled (docs/agencies.md); a case in legal is not called until it is closed or withdrawn
    (docs/late-stages.md, "Legal").
    """
    if at.tzinfo is None:
        raise ValueError("check_dial judges aware moments; pass `at` with a time zone (UTC)")
    try:
        who = Target(target)
    except ValueError:
        raise DialTargetUnknown(f"unknown call target {target!r}") from None
    row = conn.execute(
        select(
            t.cases.c.id,
            t.cases.c.borrower_id,
            t.cases.c.status,
            t.borrowers.c.timezone,
            t.borrowers.c.jurisdiction,
        )
        .join(t.borrowers, t.borrowers.c.id == t.cases.c.borrower_id)
        .where(t.cases.c.id == case_id)
    ).first()
    if row is None:
        raise DialTargetUnknown(f"no case {case_id}")
    if who is Target.CONTACT:
        if contact_id is None:
            raise DialTargetUnknown("a call to a contact names the contact")
        owner = conn.execute(
            select(t.contacts.c.borrower_id).where(t.contacts.c.id == str(contact_id))
        ).scalar()
        if owner != row.borrower_id:
            raise DialTargetUnknown(f"contact {contact_id} is not a contact of case {case_id}")
        target_id = str(contact_id)
    else:
        target_id = row.borrower_id
    pack = load_pack(pack_choice(conn).code_for(row.jurisdiction))  # the borrower's pack
    if row.status != "open":  # cured, paid off, settled, charged off: nothing to call about
        return Verdict(
            VerdictKind.BLOCK,
            None,
            f"case {case_id} is {row.status}; there is nothing to collect",
            None,
            {"status": str(row.status)},
            pack.code,
        )
    placed_with = conn.execute(
        select(placements.c.agency_id).where(
            placements.c.case_id == case_id, placements.c.status == "placed"
        )
    ).scalar()
    if placed_with is not None and placed_with != agency:
        return Verdict(
            VerdictKind.BLOCK,
            PLACED_WITH_AGENCY,
            f"case {case_id} is placed with agency {placed_with}; only the agency calls it "
            "until it is recalled",
            None,
            {"agency": str(placed_with)},
            pack.code,
        )
    if is_in_legal(conn, case_id):
        return Verdict(
            VerdictKind.BLOCK,
            IN_LEGAL,
            f"case {case_id} is in legal; the lender does not call it until the legal team "
            "closes or withdraws it",
            None,
            {},
            pack.code,
        )
    d = _business_date(conn, at, row.timezone)
    a = t.actions
    same = (
        a.c.case_id == case_id,
        a.c.target_type == who.value,
        a.c.target_id == target_id,
        a.c.channel == "call",
    )
    existing = None
    if action_id is not None:
        existing = conn.execute(select(a.c.id).where(a.c.id == action_id, *same)).scalar()
    if existing is None:
        existing = conn.execute(
            select(a.c.id)
            .where(*same, a.c.business_date == d, a.c.status.in_(["planned", "deferred"]))
            .order_by(a.c.priority, a.c.id)
            .limit(1)
        ).scalar()
    savepoint = None if record else conn.begin_nested()
    try:
        if existing is not None:
            decision = check_action(conn, existing, at, rule_pack=pack.code, stage="dial")
            verdict = verdict_of(decision, at, pack=pack, action_id=existing)
        else:
            verdict = _dial_action(conn, case_id, who, target_id, d, at, pack, agent)
    finally:
        if savepoint is not None:
            savepoint.rollback()
    if savepoint is not None:
        return Verdict(
            verdict.kind,
            verdict.rule_id,
            verdict.reason,
            verdict.next_allowed_at,
            verdict.params,
            verdict.pack,
            None,
        )
    return verdict


def _dial_action(
    conn: Connection,
    case_id: int,
    who: Target,
    target_id: str,
    d: date,
    at: datetime,
    pack: Pack,
    agent: str | None,
) -> Verdict:
    a = t.actions
    # one action per dial, however many are placed in the same second
    step = (
        f"agent_dial_{agent or 'floor'}"[:40] + f"_{at.astimezone(UTC):%H%M%S}_{uuid4().hex[:12]}"
    )
    new_id = conn.execute(
        insert(a)
        .values(
            case_id=case_id,
            business_date=d,
            step=step[:64],
            target_type=who.value,
            target_id=target_id,
            channel="call",
            template=f"call_{who.value}",
            status="planned",
            priority=5,
        )
        .returning(a.c.id)
    ).scalar_one()
    decision = check_action(conn, new_id, at, rule_pack=pack.code, stage="dial")
    verdict = verdict_of(decision, at, pack=pack, action_id=new_id)
    status = {
        VerdictKind.ALLOW: "done",
        VerdictKind.DEFER: "deferred",
        VerdictKind.BLOCK: "blocked",
    }[verdict.kind]
    conn.execute(
        a.update()
        .where(a.c.id == new_id)
        .values(
            status=status,
            scheduled_at=at.astimezone(UTC) if verdict.allowed else verdict.next_allowed_at,
            rule_id=verdict.rule_id,
            reason=None if verdict.allowed else verdict.reason,
            completed_at=at.astimezone(UTC) if verdict.allowed else None,
        )
    )
    return verdict


__all__ = [
    "ALLOW",
    "DialTargetUnknown",
    "RulePackUnavailable",
    "Target",
    "Verdict",
    "VerdictKind",
    "check_dial",
    "check_sends",
    "load_pack",
    "portfolio_pack",
    "reason_params",
    "stored_verdict",
    "verdict_of",
]
