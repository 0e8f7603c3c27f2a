"""What an agent records on a case from the case page: promises, plans, call-backs and notes.

One validation per form, used by the live preview and by the submit alike, so both say the same
thing; a refusal names its sentence in the catalogue (`key`, `params`) so the page can say it in
the agent's language, and the form keeps what the agent typed.

- A promise is positive, no more than the arrears owed, due today or within the policy's days.
- A plan's defaults fall within the agent's own limits; its first instalment is due today or
  later (the default is a business day a week ahead).
- A call-back at the time the borrower names is checked against the rule pack (hours of the day,
  through the compliance port): outside them it is refused with the next allowed time.
- Proposing a plan ends the day's offer-plan task; recording an outcome ends the call task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update

from arrears.domain.errors import DomainError
from arrears.domain.money import AmountInvalid, Money, parse_amount
from arrears.domain.plans import PlanLimits, PlanTerms, PlanTermsInvalid, RepaymentPlan
from arrears.domain.promises import DEFAULT_MAX_DAYS_AHEAD
from arrears.services.outcomes import CaseNotFound
from arrears.services.plans import ProposedPlan, preview_plan, propose_plan
from arrears.services.promises import record_promise
from arrears.services.workbench import CALLBACK_STEP
from arrears.store import tables as t
from arrears.store.tables_agent import case_notes

OFFER_PLAN_TEMPLATE = "offer_plan"


class WrapUpInvalid(ValueError):
    """A form the agent sent that cannot be recorded: `key` names the sentence in the catalogue
    ("agent.err.<key>"), `params` fill it; str() is the English sentence."""

    def __init__(self, key: str, english: str, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(english)


# --- promises --------------------------------------------------------------------------------


def arrears_owed(conn: Connection, case_id: int, as_of: date) -> Money:
    """What the borrower owes on items already due (the arrears the case is about)."""
    case = _case(conn, case_id)
    i, a = t.due_items, t.accounts
    from sqlalchemy import func

    owed = conn.scalar(
        select(
            func.coalesce(
                func.sum(
                    i.c.principal
                    + i.c.interest
                    + i.c.fee
                    + i.c.penalty
                    - i.c.paid_principal
                    - i.c.paid_interest
                    - i.c.paid_fee
                    - i.c.paid_penalty
                ),
                0,
            )
        )
        .select_from(i.join(a, a.c.id == i.c.account_id))
        .where(a.c.borrower_id == case.borrower_id, i.c.due_on < as_of)
    )
    return Money.from_minor(int(owed or 0), case.currency)


def check_promise(
    conn: Connection,
    case_id: int,
    amount: str,
    due_on: date | None,
    today: date,
    max_days: int = DEFAULT_MAX_DAYS_AHEAD,
) -> tuple[Money, date]:
    """The promise the form describes, or WrapUpInvalid saying what to change."""
    case = _case(conn, case_id)
    try:
        value = Money(parse_amount(amount, case.currency), case.currency)
    except AmountInvalid:
        raise WrapUpInvalid(
            "amount_format", f"{amount!r} is not an amount (write e.g. 1234.50)", amount=amount
        ) from None
    if value.amount <= 0:
        raise WrapUpInvalid("promise_positive", "the promised amount must be above zero")
    owed = arrears_owed(conn, case_id, today)
    if value > owed:
        raise WrapUpInvalid(
            "promise_over_owed",
            f"the promise ({value}) exceeds what is owed ({owed}); promise at most that",
            owed=owed,
        )
    if due_on is None:
        raise WrapUpInvalid("date_missing", "pick the day the borrower will pay")
    if due_on < today:
        raise WrapUpInvalid("promise_past", "a promise is for today or a later day")
    if (due_on - today).days > max_days:
        raise WrapUpInvalid(
            "promise_too_far",
            f"a promise may run at most {max_days} days; offer a repayment plan for longer",
            days=max_days,
        )
    return value, due_on


def make_promise(
    conn: Connection,
    *,
    case_id: int,
    amount: str,
    due_on: date | None,
    today: date,
    agent: str,
) -> int:
    value, day = check_promise(conn, case_id, amount, due_on, today)
    return record_promise(
        conn, case_id=case_id, amount=value, due_on=day, made_on=today, agent=agent
    )


# --- plans -----------------------------------------------------------------------------------


def next_business_day(day: date) -> date:
    """`day`, or the Monday after when it falls on a weekend."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@dataclass(frozen=True)
class PlanForm:
    """The plan form as the agent filled it (kept as typed when it is refused)."""

    instalments: int
    first_due_on: date | None
    interval_days: int | None = None
    waive_penalty: bool = False
    waive_interest: bool = False
    reason: str = ""


def plan_defaults(today: date, limits: PlanLimits) -> PlanForm:
    """What the form starts with: as many instalments as the agent may agree alone (up to three),
    no waiver, the first one a week ahead on a business day."""
    return PlanForm(
        instalments=max(1, min(3, limits.max_instalments)),
        first_due_on=next_business_day(today + timedelta(days=7)),
    )


@dataclass(frozen=True)
class PlanCheck:
    plan: RepaymentPlan
    approval: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (key, params)

    @property
    def within_limits(self) -> bool:
        return not self.approval


def check_plan(
    conn: Connection, case_id: int, form: PlanForm, today: date, limits: PlanLimits
) -> PlanCheck:
    """The plan the form makes and why it needs a team lead (if it does), or WrapUpInvalid: the
    one check behind the live preview and the submit."""
    if form.first_due_on is None:
        raise WrapUpInvalid("date_missing", "pick the day of the first instalment")
    if form.first_due_on < today:
        raise WrapUpInvalid("first_due_past", "the first instalment is due today or later")
    if form.instalments < 1 or form.instalments > 60:
        raise WrapUpInvalid("instalments_range", "a plan has 1 to 60 instalments")
    try:
        terms = PlanTerms(
            instalments=form.instalments,
            first_due_on=form.first_due_on,
            interval_days=form.interval_days or None,
            waive_penalty=form.waive_penalty,
            waive_interest=form.waive_interest,
        )
        plan = preview_plan(conn, case_id, terms, today)
    except PlanTermsInvalid as exc:
        raise WrapUpInvalid("plan_terms", str(exc)) from exc
    except DomainError as exc:
        raise WrapUpInvalid("plan_terms", str(exc)) from exc
    if plan.total.amount <= 0:
        raise WrapUpInvalid("nothing_owed", "nothing is owed on this case; no plan is needed")
    approval: list[tuple[str, dict[str, Any]]] = []
    if form.instalments > limits.max_instalments:
        approval.append(
            ("instalments", {"count": form.instalments, "limit": limits.max_instalments})
        )
    if plan.waived > limits.max_waiver:
        approval.append(("waiver", {"amount": plan.waived, "limit": limits.max_waiver}))
    if limits.max_term_days is not None:
        term = (plan.last_due_on() - form.first_due_on).days
        if term > limits.max_term_days:
            approval.append(("term", {"days": term, "limit": limits.max_term_days}))
    return PlanCheck(plan, approval)


def submit_plan(
    conn: Connection,
    *,
    case_id: int,
    form: PlanForm,
    today: date,
    limits: PlanLimits,
    agent: str,
    at: datetime,
) -> ProposedPlan:
    """Propose the plan (active at once within the agent's limits) and end the day's offer-plan
    task: the work it asked for is done, so the case does not come back for it."""
    check_plan(conn, case_id, form, today, limits)
    result = propose_plan(
        conn,
        case_id=case_id,
        terms=PlanTerms(
            instalments=form.instalments,
            first_due_on=form.first_due_on or today,
            interval_days=form.interval_days or None,
            waive_penalty=form.waive_penalty,
            waive_interest=form.waive_interest,
        ),
        proposed_on=today,
        by=agent,
        limits=limits,
        reason=form.reason.strip() or None,
    )
    end_tasks(conn, case_id, today, at, templates=(OFFER_PLAN_TEMPLATE,))
    return result


def end_tasks(
    conn: Connection, case_id: int, today: date, at: datetime, *, templates: tuple[str, ...]
) -> int:
    """Mark the case's pending tasks of these templates done for today."""
    a = t.actions
    return int(
        conn.execute(
            update(a)
            .where(
                a.c.case_id == case_id,
                a.c.business_date == today,
                a.c.channel == "task",
                a.c.template.in_(templates),
                a.c.status.in_(["planned", "deferred"]),
            )
            .values(status="done", completed_at=at)
        ).rowcount
    )


# --- call-backs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Callback:
    action_id: int
    at: datetime  # UTC
    local: datetime  # in the borrower's zone


DialCheck = Callable[[Connection, int, datetime], Any]  # (conn, case_id, at) → a verdict


def schedule_callback(
    conn: Connection,
    *,
    case_id: int,
    local_time: datetime | None,
    today: date,
    now: datetime,
    agent: str,
    check: DialCheck,
) -> Callback:
    """A call to the borrower at the time they named (in their own zone), as a call task of that
    day that reaches the queue at that time. `check` is the compliance port's dial check for that
    moment: a time the rule pack does not allow is refused with its next allowed time."""
    case = _case(conn, case_id)
    if local_time is None:
        raise WrapUpInvalid("date_missing", "pick the day and time the borrower named")
    b = conn.execute(
        select(t.borrowers.c.id, t.borrowers.c.timezone).where(t.borrowers.c.id == case.borrower_id)
    ).one()
    zone = ZoneInfo(b.timezone or "Asia/Shanghai")
    local = local_time.replace(tzinfo=zone) if local_time.tzinfo is None else local_time
    at = local.astimezone(UTC)
    if at <= now:
        raise WrapUpInvalid("callback_past", "a call-back is for a later time")
    if local.date() > today + timedelta(days=30):
        raise WrapUpInvalid("callback_too_far", "a call-back is within the next 30 days", days=30)
    verdict = check(conn, case_id, at)
    if not getattr(verdict, "allowed", False):
        nxt = getattr(verdict, "next_allowed_at", None)
        raise CallbackRefused(verdict, nxt.astimezone(zone) if nxt else None)
    a = t.actions
    day = local.date()
    existing = conn.execute(
        select(a.c.id).where(
            a.c.case_id == case_id,
            a.c.business_date == day,
            a.c.step == CALLBACK_STEP,
            a.c.target_type == "borrower",
            a.c.channel == "call",
        )
    ).scalar()
    values = {
        "status": "planned",
        "scheduled_at": at,
        "priority": 1,
        "rule_id": None,
        "reason": None,
        "completed_at": None,
    }
    if existing is not None:
        conn.execute(update(a).where(a.c.id == existing).values(values))
        action_id = int(existing)
    else:
        action_id = int(
            conn.execute(
                insert(a)
                .values(
                    case_id=case_id,
                    business_date=day,
                    step=CALLBACK_STEP,
                    target_type="borrower",
                    target_id=case.borrower_id,
                    channel="call",
                    template="call_borrower",
                    **values,
                )
                .returning(a.c.id)
            ).scalar_one()
        )
    if case.assigned_to is None:  # the agent who agreed the time keeps the case
        conn.execute(update(t.cases).where(t.cases.c.id == case_id).values(assigned_to=agent))
    return Callback(action_id, at, local)


class CallbackRefused(WrapUpInvalid):
    """The rule pack does not allow a call at the time the borrower named."""

    def __init__(self, verdict: Any, next_local: datetime | None) -> None:
        self.verdict = verdict
        self.next_local = next_local
        reason = getattr(verdict, "reason", None) or "the rule pack does not allow it"
        english = f"no call-back at that time: {reason}" + (
            f"; the next allowed time is {next_local:%Y-%m-%d %H:%M}" if next_local else ""
        )
        super().__init__("callback_refused", english, next=next_local)


# --- notes -----------------------------------------------------------------------------------


def add_note(
    conn: Connection, *, case_id: int, body: str, author: str, at: datetime, today: date
) -> int:
    text = body.strip()
    if not text:
        raise WrapUpInvalid("note_empty", "write the note first")
    if len(text) > 2000:
        raise WrapUpInvalid("note_long", "a note has at most 2000 characters", limit=2000)
    _case(conn, case_id)
    return int(
        conn.execute(
            insert(case_notes)
            .values(case_id=case_id, written_at=at, business_date=today, author=author, body=text)
            .returning(case_notes.c.id)
        ).scalar_one()
    )


def notes_of(conn: Connection, case_id: int) -> list[Any]:
    return list(
        conn.execute(
            select(case_notes)
            .where(case_notes.c.case_id == case_id)
            .order_by(case_notes.c.written_at.desc(), case_notes.c.id.desc())
        )
    )


def _case(conn: Connection, case_id: int) -> Any:
    case = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).one_or_none()
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    return case
