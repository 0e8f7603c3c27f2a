"""Read queries of the pages: the agent's queue and next case, the case file, the floor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text, update

from arrears.compliance.port import Verdict, stored_verdict
from arrears.domain.phone import mask_email, mask_name, mask_phone
from arrears.privacy.keyring import KeyRing
from arrears.services.users import Permission
from arrears.store import tables as t
from arrears.web.session import PageForbidden, PageNotFound, Viewer

PENDING = ("planned", "deferred")
WORK_CHANNELS = ("call", "task")


def visible_clause(viewer: Viewer) -> Any:
    """The cases a viewer may open."""
    c = t.cases
    if viewer.can(Permission.SEE_ALL_CASES):
        return text("1 = 1")
    team = c.c.queue.in_(viewer.queues) if viewer.queues else text("1 = 0")
    if viewer.can(Permission.SEE_TEAM_CASES):
        return or_(team, c.c.assigned_to == viewer.user.username)
    return or_(c.c.assigned_to == viewer.user.username, and_(c.c.assigned_to.is_(None), team))


def case_for(conn: Connection, viewer: Viewer, case_id: int) -> Any:
    """The case, if the viewer may open it: 404 when absent, 403 when outside their queue/team."""
    row = conn.execute(
        select(t.cases).where(t.cases.c.id == case_id, visible_clause(viewer))
    ).first()
    if row is not None:
        return row
    if conn.scalar(select(t.cases.c.id).where(t.cases.c.id == case_id)) is None:
        raise PageNotFound(f"no case {case_id}")
    raise PageForbidden(
        f"case {case_id} is not in your queue or team; ask your team lead to assign it"
    )


_WORK = (
    "a.business_date = :d AND a.status IN ('planned', 'deferred') AND a.channel IN ('call', 'task')"
)
_TIE = (
    "COALESCE((SELECT b.risk_score FROM borrowers b WHERE b.id = c.borrower_id), 0) DESC, "
    "CASE WHEN EXISTS (SELECT 1 FROM promises p WHERE p.case_id = c.id AND p.status = 'open' "
    "AND p.due_on <= :d) THEN 0 ELSE 1 END, c.id"
)
# The agent's own cases with work today (few): the full order.
_MINE_SQL = f"""
SELECT c.id FROM cases c JOIN actions a ON a.case_id = c.id
WHERE c.assigned_to = :me AND c.status = 'open' AND {_WORK}
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


def next_case(conn: Connection, viewer: Viewer, today: date) -> int | None:
    """Claim the most urgent case with work today: by strategy step priority, then amount
    overdue (then score and callbacks promised for today). The agent's own cases come first;
    unclaimed ones of the team's queues are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL,
    so two agents never take the same case."""
    pg = conn.dialect.name == "postgresql"
    lock = " FOR UPDATE OF c SKIP LOCKED" if pg else ""
    me = viewer.user.username
    mine = conn.scalar(text(_MINE_SQL), {"d": today, "me": me})
    if mine is not None:
        return int(mine)
    if not viewer.queues:
        return None
    params: dict[str, Any] = {"d": today, "queues": viewer.queues, "k": POOL_PREFIX, "after": -1}

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


def queue_rows(conn: Connection, viewer: Viewer, today: date, limit: int = 30) -> list[Any]:
    """Cases of the viewer's queue with work today, most urgent first (read only)."""
    c, a = t.cases, t.actions
    work = (
        select(a.c.case_id, func.min(a.c.priority).label("priority"), func.count().label("tasks"))
        .where(a.c.business_date == today, a.c.status.in_(PENDING), a.c.channel.in_(WORK_CHANNELS))
        .group_by(a.c.case_id)
        .subquery()
    )
    return list(
        conn.execute(
            select(c, work.c.priority, work.c.tasks)
            .join(work, work.c.case_id == c.c.id)
            .where(c.c.status == "open", visible_clause(viewer))
            .order_by(work.c.priority, c.c.overdue_amount.desc(), c.c.id)
            .limit(limit)
        )
    )


@dataclass
class Party:
    id: str
    name: str
    phone: str
    relationship: str = ""
    status: str = ""
    consent: bool = False


@dataclass
class ActionView:
    row: Any
    verdict: Verdict
    target_label: str


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
    actions: list[ActionView] = field(default_factory=list)

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


def case_view(conn: Connection, ring: KeyRing, case: Any, today: date, now: datetime) -> CaseView:
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
    view = CaseView(
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
    )
    acts = conn.execute(
        select(t.actions)
        .where(t.actions.c.case_id == case.id, t.actions.c.business_date == today)
        .order_by(t.actions.c.priority, t.actions.c.id)
    )
    for act in acts:
        if act.channel not in WORK_CHANNELS and act.status != "blocked":
            label = act.template
        elif act.target_type == "contact":
            who = view.contact(act.target_id)
            label = f"{mask_name(who.name)} ({who.relationship})" if who else act.target_id
        else:
            label = mask_name(name)
        view.actions.append(ActionView(act, stored_verdict(act, now), label))
    return view


def action_of_case(conn: Connection, case_id: int, action_id: int, today: date) -> Any:
    a = t.actions
    return conn.execute(
        select(a).where(a.c.id == action_id, a.c.case_id == case_id, a.c.business_date == today)
    ).first()


def masked(party: Party) -> Party:
    return Party(
        id=party.id,
        name=mask_name(party.name),
        phone=mask_phone(party.phone) if party.phone else "",
        relationship=party.relationship,
        status=party.status,
        consent=party.consent,
    )


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
