"""The agent's workbench, read side: which cases a user may open, the queue and why each case is
in it now, the next case to work, and the case file (parties, arrears, timeline, today's work).

The web pages call these; no SQL lives in the web layer. Personal data is decrypted here for the
pages that need it and masked by the caller unless revealed with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text, update

from arrears.domain.phone import mask_email, mask_name, mask_phone
from arrears.privacy.keyring import KeyRing
from arrears.services.outcomes import CaseNotFound
from arrears.store import tables as t

PENDING = ("planned", "deferred")
WORK_CHANNELS = ("call", "task")


class CaseNotVisible(PermissionError):
    def __init__(self, case_id: int) -> None:
        super().__init__(
            f"case {case_id} is not in your queue or team; ask your team lead to assign it"
        )


@dataclass(frozen=True)
class Scope:
    """Whose eyes: the user, their team's queues, and how far they may see."""

    username: str
    queues: tuple[str, ...] = ()
    see_all: bool = False
    see_team: bool = False


def visible_clause(scope: Scope) -> Any:
    """The cases a user may open."""
    c = t.cases
    if scope.see_all:
        return text("1 = 1")
    team = c.c.queue.in_(scope.queues) if scope.queues else text("1 = 0")
    if scope.see_team:
        return or_(team, c.c.assigned_to == scope.username)
    return or_(c.c.assigned_to == scope.username, and_(c.c.assigned_to.is_(None), team))


def case_row(conn: Connection, scope: Scope, case_id: int) -> Any:
    """The case, if the user may open it: CaseNotFound when absent, CaseNotVisible when outside
    their queue or team."""
    row = conn.execute(
        select(t.cases).where(t.cases.c.id == case_id, visible_clause(scope))
    ).first()
    if row is not None:
        return row
    if conn.scalar(select(t.cases.c.id).where(t.cases.c.id == case_id)) is None:
        raise CaseNotFound(f"no case {case_id}")
    raise CaseNotVisible(case_id)


# --- the next case ---------------------------------------------------------------------------

# Work that can be done now: today's pending tasks, and calls whose time has come (a call-back
# the borrower asked for at 15:00 waits until 15:00; a call deferred by the rule pack until its
# allowed time). Done, cancelled and blocked work never brings a case back.
_WORK = (
    "a.business_date = :d AND a.status IN ('planned', 'deferred') AND a.channel IN ('call', 'task')"
    " AND (a.channel = 'task' OR a.scheduled_at IS NULL OR a.scheduled_at <= :now)"
)
_TIE = (
    "COALESCE((SELECT b.risk_score FROM borrowers b WHERE b.id = c.borrower_id), 0) DESC, "
    "CASE WHEN EXISTS (SELECT 1 FROM promises p WHERE p.case_id = c.id AND p.status = 'open' "
    "AND p.due_on <= :d) THEN 0 ELSE 1 END, c.id"
)
# The agent's own cases with work now (few): the full order.
_MINE_SQL = f"""
SELECT c.id FROM cases c JOIN actions a ON a.case_id = c.id
WHERE c.assigned_to = :me AND c.status = 'open' AND c.id <> :skip AND {_WORK}
ORDER BY a.priority, c.overdue_amount DESC, {_TIE}
LIMIT 1
"""
# The most urgent priority level above :after with unclaimed work in the queues.
_LEVEL_SQL = f"""
SELECT a.priority FROM actions a JOIN cases c ON c.id = a.case_id
WHERE {_WORK} AND a.priority > :after
  AND c.status = 'open' AND c.assigned_to IS NULL AND c.queue IN :queues
ORDER BY a.priority
LIMIT 1
"""
# Of the unclaimed cases with the largest amounts overdue (a prefix of the pool in amount
# order), the first with work at the level: if there is one, no case of that level owes more.
_POOL_TOP_SQL = f"""
SELECT c.id
FROM (SELECT u.id, u.overdue_amount FROM cases u
      WHERE u.status = 'open' AND u.assigned_to IS NULL
      ORDER BY u.overdue_amount DESC, u.id LIMIT :k) top
JOIN cases c ON c.id = top.id
WHERE c.assigned_to IS NULL AND c.queue IN :queues
  AND EXISTS (SELECT 1 FROM actions a WHERE a.case_id = c.id AND {_WORK} AND a.priority = :p)
ORDER BY top.overdue_amount DESC, top.id
LIMIT 1
"""
# Otherwise every case of the level, sorted.
_POOL_LEVEL_SQL = f"""
SELECT c.id FROM actions a JOIN cases c ON c.id = a.case_id
WHERE {_WORK} AND a.priority = :p
  AND c.status = 'open' AND c.assigned_to IS NULL AND c.queue IN :queues
ORDER BY c.overdue_amount DESC, {_TIE}
LIMIT 1
"""
POOL_PREFIX = 500


def next_case(
    conn: Connection, scope: Scope, today: date, now: datetime, *, skip: int | None = None
) -> int | None:
    """Claim the most urgent case with work now: by strategy step priority, then amount overdue
    (then score and promises due). The agent's own cases come first; unclaimed ones of the
    team's queues are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so two agents never take
    the same case. `skip` is the case the agent is leaving: never handed straight back."""
    pg = conn.dialect.name == "postgresql"
    lock = " FOR UPDATE OF c SKIP LOCKED" if pg else ""
    me = scope.username
    # SQLite keeps UTC times as naive text: compare with the same
    at = now if pg else now.astimezone(UTC).replace(tzinfo=None)
    base: dict[str, Any] = {"d": today, "now": at, "skip": skip if skip is not None else -1}
    mine = conn.scalar(text(_MINE_SQL), {**base, "me": me})
    if mine is not None:
        return int(mine)
    if not scope.queues:
        return None
    params: dict[str, Any] = {
        **base,
        "queues": list(scope.queues),
        "k": POOL_PREFIX,
        "after": -1,
    }

    def one(sql: str) -> Any:
        stmt = text(sql + lock).bindparams(bindparam("queues", expanding=True))
        return conn.scalar(stmt, params)

    for _ in range(20):  # levels, most urgent first
        level = conn.scalar(
            text(_LEVEL_SQL).bindparams(bindparam("queues", expanding=True)), params
        )
        if level is None:
            return None
        params["p"] = level
        for _ in range(3):
            if pg:  # walk the unclaimed-by-amount index rather than sort the whole pool
                conn.execute(text("SET LOCAL enable_sort = off"))
            case_id = one(_POOL_TOP_SQL)
            if pg:
                conn.execute(text("SET LOCAL enable_sort = on"))
            if case_id is None:
                case_id = one(_POOL_LEVEL_SQL)
            if case_id is None:
                break
            claimed = conn.execute(
                update(t.cases)
                .where(t.cases.c.id == case_id, t.cases.c.assigned_to.is_(None))
                .values(assigned_to=me)
            ).rowcount
            if claimed:
                return int(case_id)
        params["after"] = level
    return None


# --- why this case now -------------------------------------------------------------------------


class Why(StrEnum):
    """The reasons a case is worked now, each a sentence in the catalogue ("why.<value>")."""

    CALLBACK = "callback"  # the borrower asked to be called back at {time}
    PROMISE_BROKEN = "promise_broken"  # a promise of {amount} due {day} was broken
    PROMISE_DUE = "promise_due"  # a promise of {amount} falls due {day}
    PLAN_MISSED = "plan_missed"  # instalment {seq} of the plan was missed
    HARDSHIP = "hardship"  # hardship declared: {kind}
    STEP = "step"  # the strategy's step today: {step}
    DPD = "dpd"  # {dpd} days past due, {amount} overdue
    MINE = "mine"  # already yours


@dataclass(frozen=True)
class Reason:
    why: Why
    params: dict[str, Any] = field(default_factory=dict)


def why_now(
    conn: Connection,
    case_ids: list[int],
    today: date,
    username: str | None = None,
    *,
    cases: dict[int, Any] | None = None,
) -> dict[int, list[Reason]]:
    """For each case, why it is in the queue today, the most pressing first (`cases`: the rows
    when the caller has them already)."""
    if not case_ids:
        return {}
    out: dict[int, list[Reason]] = {cid: [] for cid in case_ids}
    c, a, p = t.cases, t.actions, t.promises
    if cases is None:
        cases = {r.id: r for r in conn.execute(select(c).where(c.c.id.in_(case_ids)))}
    for r in conn.execute(
        select(a.c.case_id, a.c.scheduled_at)
        .where(
            a.c.case_id.in_(case_ids),
            a.c.business_date == today,
            a.c.step == CALLBACK_STEP,
            a.c.status.in_(PENDING),
        )
        .order_by(a.c.scheduled_at)
    ):
        out[r.case_id].append(Reason(Why.CALLBACK, {"at": r.scheduled_at}))
    for r in conn.execute(
        select(p)
        .where(
            p.c.case_id.in_(case_ids),
            or_(
                and_(p.c.status == "broken", p.c.settled_on >= today - timedelta(days=7)),
                and_(p.c.status == "open", p.c.due_on <= today),
            ),
        )
        .order_by(p.c.due_on.desc())
    ):
        if r.status == "broken":
            out[r.case_id].append(
                Reason(
                    Why.PROMISE_BROKEN,
                    {"amount": (r.amount, r.currency), "day": r.settled_on or r.due_on},
                )
            )
        else:
            out[r.case_id].append(
                Reason(Why.PROMISE_DUE, {"amount": (r.amount, r.currency), "day": r.due_on})
            )
    pi, pl = t.plan_instalments, t.plans
    for r in conn.execute(
        select(pl.c.case_id, func.min(pi.c.seq).label("seq"))
        .join(pi, pi.c.plan_id == pl.c.id)
        .where(pl.c.case_id.in_(case_ids), pl.c.status == "active", pi.c.status == "missed")
        .group_by(pl.c.case_id)
    ):
        out[r.case_id].append(Reason(Why.PLAN_MISSED, {"seq": r.seq}))
    steps: dict[int, str] = {}
    for s in conn.execute(
        select(a.c.case_id, a.c.step, a.c.priority)
        .where(
            a.c.case_id.in_(case_ids),
            a.c.business_date == today,
            a.c.status.in_(PENDING),
            a.c.channel.in_(WORK_CHANNELS),
            a.c.step != CALLBACK_STEP,
        )
        .order_by(a.c.priority, a.c.id)
    ):
        steps.setdefault(s.case_id, s.step)
    for cid in case_ids:
        case = cases.get(cid)
        if case is None:
            continue
        if case.hardship:
            out[cid].append(Reason(Why.HARDSHIP, {"kind": case.hardship}))
        if cid in steps:
            out[cid].append(Reason(Why.STEP, {"step": steps[cid]}))
        out[cid].append(
            Reason(
                Why.DPD,
                {
                    "dpd": case.dpd,
                    "bucket": case.bucket,
                    "amount": (case.overdue_amount, case.currency),
                },
            )
        )
        if username and case.assigned_to == username:
            out[cid].append(Reason(Why.MINE))
    return out


CALLBACK_STEP = "callback"


@dataclass(frozen=True)
class QueueRow:
    case: Any
    priority: int
    tasks: int
    reasons: list[Reason]

    def __getattr__(self, name: str) -> Any:  # the case's columns read through (r.dpd, r.id)
        return getattr(self.case, name)


def queue_rows(conn: Connection, scope: Scope, today: date, limit: int = 30) -> list[QueueRow]:
    """Cases of the user's queue with work today, most urgent first (read only), each with why
    it is there."""
    c, a = t.cases, t.actions
    work = (
        select(a.c.case_id, func.min(a.c.priority).label("priority"), func.count().label("tasks"))
        .where(a.c.business_date == today, a.c.status.in_(PENDING), a.c.channel.in_(WORK_CHANNELS))
        .group_by(a.c.case_id)
        .subquery()
    )
    rows = list(
        conn.execute(
            select(c, work.c.priority, work.c.tasks)
            .join(work, work.c.case_id == c.c.id)
            .where(c.c.status == "open", visible_clause(scope))
            .order_by(work.c.priority, c.c.overdue_amount.desc(), c.c.id)
            .limit(limit)
        )
    )
    reasons = why_now(
        conn, [r.id for r in rows], today, scope.username, cases={r.id: r for r in rows}
    )
    return [QueueRow(r, int(r.priority), int(r.tasks), reasons.get(r.id, [])) for r in rows]


# --- the case file -----------------------------------------------------------------------------


@dataclass
class Party:
    id: str
    name: str
    phone: str
    relationship: str = ""
    status: str = ""
    consent: bool = False


@dataclass
class CaseView:
    case: Any
    borrower: Any
    borrower_party: Party
    id_number_masked: str
    email_masked: str
    accounts: list[Any]
    items: list[Any]
    interactions: list[Any]
    promises: list[Any]
    plans: list[tuple[Any, list[Any]]]
    contacts: list[Party]
    actions: list[Any] = field(default_factory=list)
    calls: dict[int, Any] = field(default_factory=dict)  # interaction id → the dialled call

    @property
    def currency(self) -> str:
        return str(self.case.currency)

    @property
    def overdue_minor(self) -> int:
        return sum(int(i.owed) for i in self.items)

    def contact(self, contact_id: str) -> Party | None:
        return next((p for p in self.contacts if p.id == contact_id), None)


def _dec(ring: KeyRing, blob: bytes | None) -> str:
    return ring.decrypt(blob) or ""


def case_view(conn: Connection, ring: KeyRing, case: Any, today: date) -> CaseView:
    """Everything the case page shows, decrypted (the caller masks what the viewer may not see).
    Today's actions are the rows; their verdicts are the compliance port's to give."""
    b = conn.execute(select(t.borrowers).where(t.borrowers.c.id == case.borrower_id)).one()
    name, phone = _dec(ring, b.name_enc), _dec(ring, b.phone_enc)
    id_number, email = _dec(ring, b.id_number_enc), _dec(ring, b.email_enc)
    accounts = list(
        conn.execute(
            select(t.accounts)
            .where(t.accounts.c.borrower_id == case.borrower_id)
            .order_by(t.accounts.c.id)
        )
    )
    i = t.due_items
    owed = (
        i.c.principal
        + i.c.interest
        + i.c.fee
        + i.c.penalty
        - i.c.paid_principal
        - i.c.paid_interest
        - i.c.paid_fee
        - i.c.paid_penalty
    )
    items = list(
        conn.execute(
            select(
                i,
                (i.c.principal - i.c.paid_principal).label("principal_owed"),
                (i.c.interest - i.c.paid_interest).label("interest_owed"),
                (i.c.fee - i.c.paid_fee).label("fee_owed"),
                (i.c.penalty - i.c.paid_penalty).label("penalty_owed"),
                owed.label("owed"),
            )
            .where(i.c.account_id.in_([a.id for a in accounts]), i.c.due_on < today, owed > 0)
            .order_by(i.c.due_on, i.c.account_id, i.c.seq)
        )
    )
    inter = t.interactions
    interactions = list(
        conn.execute(
            select(inter)
            .where(inter.c.case_id == case.id)
            .order_by(inter.c.occurred_at.desc(), inter.c.id.desc())
        )
    )
    promises = list(
        conn.execute(
            select(t.promises).where(t.promises.c.case_id == case.id).order_by(t.promises.c.id)
        )
    )
    plans = []
    for plan in conn.execute(
        select(t.plans).where(t.plans.c.case_id == case.id).order_by(t.plans.c.id.desc())
    ):
        pi = t.plan_instalments
        inst = list(conn.execute(select(pi).where(pi.c.plan_id == plan.id).order_by(pi.c.seq)))
        plans.append((plan, inst))
    contacts = [
        Party(
            id=ct.id,
            name=_dec(ring, ct.name_enc),
            phone=_dec(ring, ct.phone_enc),
            relationship=ct.relationship,
            status=ct.status,
            consent=bool(ct.consent),
        )
        for ct in conn.execute(
            select(t.contacts)
            .where(t.contacts.c.borrower_id == case.borrower_id)
            .order_by(t.contacts.c.id)
        )
    ]
    actions = list(
        conn.execute(
            select(t.actions)
            .where(t.actions.c.case_id == case.id, t.actions.c.business_date == today)
            .order_by(t.actions.c.priority, t.actions.c.id)
        )
    )
    return CaseView(
        case=case,
        borrower=b,
        borrower_party=Party(id=b.id, name=name, phone=phone, status=b.phone_status),
        id_number_masked=("*" * max(0, len(id_number) - 4) + id_number[-4:]) if id_number else "",
        email_masked=mask_email(email) if email else "",
        accounts=accounts,
        items=items,
        interactions=interactions,
        promises=promises,
        plans=plans,
        contacts=contacts,
        actions=actions,
        calls=_calls_of(conn, case.id),
    )


def _calls_of(conn: Connection, case_id: int) -> dict[int, Any]:
    """The calls the dialler placed for the case, by the interaction each recorded: talk time
    and whether its recording is kept."""
    from arrears.services.calls import calls_of_case

    return {c.interaction_id: c for c in calls_of_case(conn, case_id) if c.interaction_id}


def call_action(conn: Connection, call_id: int) -> int | None:
    """The action a placed call was judged as (the day's call task, or the agent's own)."""
    from arrears.store.tables_calls import calls

    found = conn.scalar(select(calls.c.action_id).where(calls.c.id == call_id))
    return int(found) if found is not None else None


def action_of_case(conn: Connection, case_id: int, action_id: int, today: date) -> Any:
    a = t.actions
    return conn.execute(
        select(a).where(a.c.id == action_id, a.c.case_id == case_id, a.c.business_date == today)
    ).first()


def masked(party: Party) -> Party:
    """The party as an agent sees them: the name in full (to ask for them by name), the number
    masked (the dialler dials it)."""
    return Party(
        id=party.id,
        name=party.name,
        phone=mask_phone(party.phone) if party.phone else "",
        relationship=party.relationship,
        status=party.status,
        consent=party.consent,
    )


def hidden(party: Party) -> Party:
    """The party with the name masked too (views that do not call anyone)."""
    shown = masked(party)
    shown.name = mask_name(party.name)
    return shown


def floor_counts(conn: Connection, queues: list[str] | None, today: date) -> dict[str, int]:
    """Today's work of a team (or everyone): contacts, right-party contacts, promises, plans,
    blocked actions."""
    c = t.cases
    scope = c.c.queue.in_(queues) if queues is not None else text("1 = 1")
    cases_in = select(c.c.id).where(scope)
    inter = t.interactions
    rows = conn.execute(
        select(inter.c.outcome, func.count())
        .where(inter.c.business_date == today, inter.c.case_id.in_(cases_in))
        .group_by(inter.c.outcome)
    ).all()
    by = {r[0]: int(r[1]) for r in rows}
    connected = {
        "right_party",
        "refused",
        "contact_reached",
        "contact_refused",
        "promise",
        "dispute",
        "hardship",
    }
    return {
        "contacts_made": sum(by.values()),
        "rpc": sum(
            v
            for k, v in by.items()
            if k in {"right_party", "promise", "dispute", "hardship", "refused"}
        ),
        "connected": sum(v for k, v in by.items() if k in connected),
        "promises_made": int(
            conn.scalar(
                select(func.count())
                .select_from(t.promises)
                .where(t.promises.c.made_on == today, t.promises.c.case_id.in_(cases_in))
            )
            or 0
        ),
        "plans_made": int(
            conn.scalar(
                select(func.count())
                .select_from(t.plans)
                .where(t.plans.c.proposed_on == today, t.plans.c.case_id.in_(cases_in))
            )
            or 0
        ),
        "blocked_count": int(
            conn.scalar(
                select(func.count())
                .select_from(t.actions)
                .where(
                    t.actions.c.business_date == today,
                    t.actions.c.status == "blocked",
                    t.actions.c.case_id.in_(cases_in),
                )
            )
            or 0
        ),
        "cases_open": int(
            conn.scalar(select(func.count()).select_from(c).where(scope, c.c.status == "open")) or 0
        ),
    }


def plan_decisions(conn: Connection, username: str, since: date) -> list[Any]:
    """The agent's proposals a team lead decided (approved or rejected, with the reason) on or
    after `since`: the notice on their queue and case pages."""
    p = t.plans
    decided = p.c.decided_by if "decided_by" in p.c else p.c.approved_by
    return list(
        conn.execute(
            select(p)
            .where(
                p.c.proposed_by == username,
                p.c.proposed_on >= since,
                decided.is_not(None),
                decided != username,
            )
            .order_by(p.c.id.desc())
            .limit(20)
        )
    )
