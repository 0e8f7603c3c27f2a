"""The team lead's floor: each agent's day live, who is on a call now, every case of the team
with paging, sorting and filters, bulk assignment, recordings to review and their playback,
and the lead's decision on a proposed plan.

A team lead sees their team (its agents and the cases of its queues); a manager sees everyone.
The web pages call these functions; the SQL lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from arrears.domain.errors import DomainError
from arrears.services.users import Role, list_users
from arrears.store import tables as t
from arrears.store.tables_agent import case_notes
from arrears.store.tables_calls import calls
from arrears.store.tables_web import team_queues

# outcomes in which the agent spoke with the borrower (right-party contact)
RPC_OUTCOMES = ("right_party", "promise", "dispute", "hardship", "refused")
FLOOR_ROLES = (Role.AGENT, Role.TEAM_LEAD)
REVIEW_DAYS = 7  # recordings listed for review: calls of the last week
PER_PAGE = 25


class CaseSort(StrEnum):
    OVERDUE = "overdue"
    DPD = "dpd"
    OPENED = "opened"
    CASE = "case"
    AGENT = "agent"


class FloorError(DomainError):
    """A floor request the team lead can correct (the message says how)."""


class AssigneeNotInTeam(FloorError):
    def __init__(self, username: str) -> None:
        super().__init__(f"{username} is not an active agent of your team; pick one from the list")


class CasesOutsideTeam(FloorError):
    def __init__(self, case_ids: list[int]) -> None:
        shown = ", ".join(f"#{i}" for i in case_ids[:5]) + (" …" if len(case_ids) > 5 else "")
        super().__init__(
            f"cases {shown} are not in your team's queues; ask their team lead or a manager"
        )


class QueueUnknown(FloorError):
    def __init__(self, queue: str) -> None:
        super().__init__(f"no queue {queue!r}; pick one of your team's queues")


class PlanNotPending(FloorError):
    def __init__(self, plan_id: int) -> None:
        super().__init__(
            f"plan {plan_id} is not waiting for a decision (already decided or withdrawn)"
        )


class PlanNotFound(FloorError):
    def __init__(self, plan_id: int) -> None:
        super().__init__(f"no plan {plan_id}")


class RejectionReasonMissing(FloorError):
    def __init__(self) -> None:
        super().__init__("say why the plan is rejected (at least 5 characters): the agent sees it")


@dataclass(frozen=True)
class FloorScope:
    """Whose floor: a team (its queues and agents), or everyone (team None)."""

    team_id: str | None
    queues: tuple[str, ...] | None  # None: every queue

    @classmethod
    def everyone(cls) -> FloorScope:
        return cls(None, None)

    def case_clause(self) -> Any:
        c = t.cases
        if self.queues is None:
            return c.c.id.is_not(None)
        return c.c.queue.in_(self.queues)


# --- each agent's day -----------------------------------------------------------------------


@dataclass
class AgentDay:
    username: str
    display_name: str
    role: str
    calls: int = 0  # call attempts recorded today (interactions by phone)
    rpc: int = 0  # right-party contacts
    promises: int = 0
    promised: dict[str, int] = field(default_factory=dict)  # currency -> minor units
    plans: int = 0
    on_call_seconds: int = 0  # time on calls the dialler placed today (dial to hang-up)
    on_call_since: datetime | None = None  # a call running now
    on_call_case: int | None = None
    last_active: datetime | None = None  # end of the last call or the last outcome recorded

    def idle_seconds(self, now: datetime) -> int | None:
        """Seconds since the agent's last activity today; None while on a call or before the
        first activity."""
        if self.on_call_since is not None or self.last_active is None:
            return None
        return max(0, int((now - _aware(self.last_active)).total_seconds()))


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def floor_agents(conn: Connection, scope: FloorScope) -> list[Any]:
    """The active agents and team leads of the scope's team (everyone's for a manager)."""
    return [
        u
        for u in list_users(conn)
        if u.role in FLOOR_ROLES
        and u.active
        and (scope.team_id is None or u.team_id == scope.team_id)
    ]


def agent_days(conn: Connection, scope: FloorScope, today: date, now: datetime) -> list[AgentDay]:
    """Per agent of the scope, today so far: calls, right-party contacts, promises (count and
    amount per currency), plans proposed, time on call, a call running now, last activity."""
    people = floor_agents(conn, scope)
    days = {u.username: AgentDay(u.username, u.display_name, u.role.value) for u in people}
    if not days:
        return []
    names = list(days)
    i = t.interactions
    for agent, outcome, channel, n, last in conn.execute(
        select(i.c.agent, i.c.outcome, i.c.channel, func.count(), func.max(i.c.occurred_at))
        .where(i.c.business_date == today, i.c.agent.in_(names))
        .group_by(i.c.agent, i.c.outcome, i.c.channel)
    ):
        day = days[agent]
        if channel == "call":
            day.calls += int(n)
        if outcome in RPC_OUTCOMES:
            day.rpc += int(n)
        day.last_active = _later(day.last_active, last)
    p = t.promises
    for agent, currency, n, amount in conn.execute(
        select(p.c.made_by, p.c.currency, func.count(), func.sum(p.c.amount))
        .where(p.c.made_on == today, p.c.made_by.in_(names))
        .group_by(p.c.made_by, p.c.currency)
    ):
        day = days[agent]
        day.promises += int(n)
        day.promised[currency] = day.promised.get(currency, 0) + int(amount or 0)
    pl = t.plans
    for agent, n in conn.execute(
        select(pl.c.proposed_by, func.count())
        .where(pl.c.proposed_on == today, pl.c.proposed_by.in_(names))
        .group_by(pl.c.proposed_by)
    ):
        days[agent].plans = int(n)
    for row in conn.execute(
        select(calls.c.agent, calls.c.case_id, calls.c.started_at, calls.c.ended_at).where(
            calls.c.business_date == today, calls.c.agent.in_(names)
        )
    ):
        day = days[row.agent]
        started = _aware(row.started_at)
        if row.ended_at is None:
            if day.on_call_since is None or started > day.on_call_since:
                day.on_call_since, day.on_call_case = started, row.case_id
            day.on_call_seconds += max(0, int((now - started).total_seconds()))
        else:
            ended = _aware(row.ended_at)
            day.on_call_seconds += max(0, int((ended - started).total_seconds()))
            day.last_active = _later(day.last_active, ended)
    return sorted(days.values(), key=lambda d: d.username)


def _later(a: datetime | None, b: Any) -> datetime | None:
    if b is None:
        return a
    if isinstance(b, str):
        b = datetime.fromisoformat(b)
    b = _aware(b)
    return b if a is None or b > a else a


@dataclass(frozen=True)
class LiveCall:
    agent: str
    case_id: int
    target_type: str
    started_at: datetime
    answered: bool

    def seconds(self, now: datetime) -> int:
        return max(0, int((now - self.started_at).total_seconds()))


def on_call_now(conn: Connection, scope: FloorScope) -> list[LiveCall]:
    """Calls running now (placed, not yet ended) by the scope's agents, the longest first."""
    names = [u.username for u in floor_agents(conn, scope)]
    if not names:
        return []
    rows = conn.execute(
        select(
            calls.c.agent,
            calls.c.case_id,
            calls.c.target_type,
            calls.c.started_at,
            calls.c.answered_at,
        )
        .where(calls.c.ended_at.is_(None), calls.c.agent.in_(names))
        .order_by(calls.c.started_at)
    )
    return [
        LiveCall(r.agent, r.case_id, r.target_type, _aware(r.started_at), r.answered_at is not None)
        for r in rows
    ]


# --- every case of the team, paged ----------------------------------------------------------


@dataclass(frozen=True)
class CaseFilter:
    status: str = "open"  # "" for every status
    bucket: str = ""
    agent: str = ""  # a username, "-" for unassigned, "" for anyone
    queue: str = ""
    dpd_min: int | None = None
    dpd_max: int | None = None
    sort: CaseSort = CaseSort.OVERDUE
    descending: bool = True
    page: int = 1
    per_page: int = PER_PAGE


@dataclass(frozen=True)
class CasePage:
    rows: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


_SORT = {
    CaseSort.OVERDUE: t.cases.c.overdue_amount,
    CaseSort.DPD: t.cases.c.dpd,
    CaseSort.OPENED: t.cases.c.opened_on,
    CaseSort.CASE: t.cases.c.id,
    CaseSort.AGENT: t.cases.c.assigned_to,
}


def case_page(conn: Connection, scope: FloorScope, f: CaseFilter) -> CasePage:
    """One page of the scope's cases, filtered and sorted (ties broken by case id)."""
    c = t.cases
    where = [scope.case_clause()]
    if f.status:
        where.append(c.c.status == f.status)
    if f.bucket:
        where.append(c.c.bucket == f.bucket)
    if f.agent == "-":
        where.append(c.c.assigned_to.is_(None))
    elif f.agent:
        where.append(c.c.assigned_to == f.agent)
    if f.queue:
        where.append(c.c.queue == f.queue)
    if f.dpd_min is not None:
        where.append(c.c.dpd >= f.dpd_min)
    if f.dpd_max is not None:
        where.append(c.c.dpd <= f.dpd_max)
    total = int(conn.scalar(select(func.count()).select_from(c).where(*where)) or 0)
    per_page = max(1, min(f.per_page, 200))
    page = max(1, min(f.page, max(1, -(-total // per_page))))
    key = _SORT[f.sort]
    order = [key.desc(), c.c.id.desc()] if f.descending else [key.asc(), c.c.id.asc()]
    rows = list(
        conn.execute(
            select(
                c.c.id,
                c.c.status,
                c.c.bucket,
                c.c.dpd,
                c.c.overdue_amount,
                c.c.currency,
                c.c.queue,
                c.c.assigned_to,
                c.c.opened_on,
                c.c.hardship,
            )
            .where(*where)
            .order_by(*order)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return CasePage(rows, total, page, per_page)


def buckets_of(conn: Connection, scope: FloorScope) -> list[str]:
    c = t.cases
    found = conn.scalars(
        select(c.c.bucket).where(scope.case_clause(), c.c.status == "open").distinct()
    )
    return sorted(found, key=lambda b: (len(b), b))


def queues_of(conn: Connection, scope: FloorScope) -> list[str]:
    if scope.queues is not None:
        return list(scope.queues)
    return sorted(set(conn.scalars(select(team_queues.c.queue))) | {"early"})


def assign_cases(
    conn: Connection,
    scope: FloorScope,
    case_ids: list[int],
    assignee: str | None,
    queue: str | None = None,
) -> int:
    """Give cases to an agent of the team (None: back to the queue), optionally moving them to
    another of the team's queues; all or none. Returns how many cases changed."""
    ids = sorted(set(case_ids))
    if not ids:
        return 0
    if assignee and assignee not in {u.username for u in floor_agents(conn, scope)}:
        raise AssigneeNotInTeam(assignee)
    if queue and queue not in queues_of(conn, scope):
        raise QueueUnknown(queue)
    c = t.cases
    inside = set(conn.scalars(select(c.c.id).where(c.c.id.in_(ids), scope.case_clause())))
    outside = [i for i in ids if i not in inside]
    if outside:
        raise CasesOutsideTeam(outside)
    values: dict[str, Any] = {"assigned_to": assignee or None}
    if queue:
        values["queue"] = queue
    return int(conn.execute(update(c).where(c.c.id.in_(ids)).values(**values)).rowcount or 0)


# --- plans waiting for the lead, and the decision -------------------------------------------


def pending_plans(conn: Connection, scope: FloorScope, case_id: int | None = None) -> list[Any]:
    """Proposed plans of the scope's cases (of one case if given), oldest first."""
    c, p = t.cases, t.plans
    q = (
        select(p, c.c.queue, c.c.assigned_to, c.c.hardship, c.c.dpd)
        .join(c, c.c.id == p.c.case_id)
        .where(p.c.status == "proposed", scope.case_clause())
        .order_by(p.c.proposed_on, p.c.id)
    )
    if case_id is not None:
        q = q.where(p.c.case_id == case_id)
    return list(conn.execute(q))


def decide_plan(
    conn: Connection,
    scope: FloorScope,
    plan_id: int,
    *,
    approve: bool,
    by: str,
    on: date,
    at: datetime,
    note: str = "",
) -> int:
    """Approve or reject (with a reason) a proposed plan of the scope's cases. The decision is
    kept on the plan and written as a note in the case's timeline, where the agent who proposed
    it sees it (and on their queue). Returns the plan's case id."""
    from arrears.services.plans import approve_plan, cancel_plan

    c, p = t.cases, t.plans
    row = conn.execute(
        select(p.c.id, p.c.case_id, p.c.status)
        .join(c, c.c.id == p.c.case_id)
        .where(p.c.id == plan_id)
    ).first()
    if row is None:
        raise PlanNotFound(plan_id)
    in_scope = conn.scalar(select(c.c.id).where(c.c.id == row.case_id, scope.case_clause()))
    if in_scope is None:
        raise CasesOutsideTeam([row.case_id])
    if row.status != "proposed":
        raise PlanNotPending(plan_id)
    note = note.strip()
    if approve:
        approve_plan(conn, plan_id, by=by, on=on)
    else:
        if len(note) < 5:
            raise RejectionReasonMissing()
        cancel_plan(conn, plan_id, on=on)
    conn.execute(
        update(p)
        .where(p.c.id == plan_id)
        .values(decided_by=by, decided_at=at, decision_note=note or None)
    )
    mark = "✓" if approve else "✗"
    conn.execute(
        insert(case_notes).values(
            case_id=row.case_id,
            written_at=at,
            business_date=on,
            author=by,
            body=f"#{plan_id} {mark}" + (f" {note}" if note else ""),
        )
    )
    return int(row.case_id)


# --- recordings -----------------------------------------------------------------------------


def recordings_to_review(
    conn: Connection, scope: FloorScope, today: date, limit: int = 20
) -> list[Any]:
    """Recorded calls of the scope's cases over the last week, newest first, with how often
    each has been played back."""
    c = t.cases
    since = today - timedelta(days=REVIEW_DAYS)
    rows = list(
        conn.execute(
            select(
                calls.c.id,
                calls.c.case_id,
                calls.c.agent,
                calls.c.target_type,
                calls.c.started_at,
                calls.c.outcome,
                calls.c.talk_ms,
                calls.c.recording_ms,
            )
            .join(c, c.c.id == calls.c.case_id)
            .where(
                calls.c.recording_path.is_not(None),
                calls.c.recording_purged_on.is_(None),
                calls.c.business_date >= since,
                scope.case_clause(),
            )
            .order_by(calls.c.started_at.desc(), calls.c.id.desc())
            .limit(limit)
        )
    )
    return rows


def call_in_scope(conn: Connection, scope: FloorScope, call_id: int) -> None:
    """A team lead plays only their team's calls: CasesOutsideTeam otherwise (a missing call
    is left to the playback service to report)."""
    c = t.cases
    case_id = conn.scalar(select(calls.c.case_id).where(calls.c.id == call_id))
    if case_id is None:
        return
    if conn.scalar(select(c.c.id).where(c.c.id == case_id, scope.case_clause())) is None:
        raise CasesOutsideTeam([int(case_id)])


def case_of_plan(conn: Connection, plan_id: int) -> int:
    case_id = conn.scalar(select(t.plans.c.case_id).where(t.plans.c.id == plan_id))
    if case_id is None:
        raise PlanNotFound(plan_id)
    return int(case_id)


def team_totals(conn: Connection, scope: FloorScope, today: date) -> dict[str, int]:
    """The scope's open cases, those with calls to make today, and today's actions the rule
    pack blocked."""
    c, a = t.cases, t.actions
    open_cases = int(
        conn.scalar(
            select(func.count()).select_from(c).where(scope.case_clause(), c.c.status == "open")
        )
        or 0
    )
    with_work = int(
        conn.scalar(
            select(func.count(func.distinct(a.c.case_id)))
            .select_from(a)
            .join(c, c.c.id == a.c.case_id)
            .where(
                a.c.business_date == today,
                a.c.status.in_(["planned", "deferred"]),
                a.c.channel.in_(["call", "task"]),
                c.c.status == "open",
                scope.case_clause(),
            )
        )
        or 0
    )
    blocked = int(
        conn.scalar(
            select(func.count())
            .select_from(a)
            .join(c, c.c.id == a.c.case_id)
            .where(a.c.business_date == today, a.c.status == "blocked", scope.case_clause())
        )
        or 0
    )
    return {"cases_open": open_cases, "with_work": with_work, "blocked": blocked}
