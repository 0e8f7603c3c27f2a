"""People who sign in: roles, what each role may do, teams and the queues they work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update

from arrears.privacy.masking import Role as Role  # re-exported: one definition
from arrears.services.auth import hash_password
from arrears.store.tables_web import team_queues, teams, users


class Permission(StrEnum):
    WORK_CASES = "work_cases"  # take next case, record outcomes, promises, plans
    SEE_ALL_CASES = "see_all_cases"  # open any case (read), not only the own queue
    SEE_TEAM_CASES = "see_team_cases"  # open any case of the team's queues
    REVEAL_PII = "reveal_pii"  # unmask personal data, with a reason, audited
    ASSIGN = "assign"  # assign and reassign cases
    APPROVE_PLANS = "approve_plans"
    VIEW_FLOOR = "view_floor"
    VIEW_PORTFOLIO = "view_portfolio"
    VIEW_COMPLIANCE = "view_compliance"
    MANAGE_USERS = "manage_users"
    DEPLOY_STRATEGIES = "deploy_strategies"  # deploy, roll back (maker)
    APPROVE_STRATEGIES = "approve_strategies"  # approve another's deploy (checker)


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset({Permission.WORK_CASES}),
    Role.TEAM_LEAD: frozenset(
        {
            Permission.WORK_CASES,
            Permission.SEE_TEAM_CASES,
            Permission.REVEAL_PII,
            Permission.ASSIGN,
            Permission.APPROVE_PLANS,
            Permission.VIEW_FLOOR,
        }
    ),
    Role.MANAGER: frozenset(
        {
            Permission.SEE_ALL_CASES,
            Permission.VIEW_FLOOR,
            Permission.VIEW_PORTFOLIO,
            Permission.APPROVE_STRATEGIES,
        }
    ),
    Role.COMPLIANCE: frozenset(
        {Permission.SEE_ALL_CASES, Permission.REVEAL_PII, Permission.VIEW_COMPLIANCE}
    ),
    Role.ADMIN: frozenset({Permission.MANAGE_USERS}),
    Role.INTEGRATION: frozenset(),
    Role.STRATEGIST: frozenset(
        {
            Permission.VIEW_PORTFOLIO,
            Permission.DEPLOY_STRATEGIES,
            Permission.APPROVE_STRATEGIES,
        }
    ),
}


class UserUnknown(LookupError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no user {username!r}; list users with `arrears users list`")


class UserExists(ValueError):
    def __init__(self, username: str) -> None:
        super().__init__(
            f"user {username!r} exists already; pick another name or `arrears users passwd`"
        )


class RoleUnknown(ValueError):
    def __init__(self, role: str) -> None:
        super().__init__(f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}")


class PasswordTooWeak(ValueError):
    def __init__(self) -> None:
        super().__init__("the password needs at least 10 characters")


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: Role
    team_id: str | None
    language: str
    plan_max_instalments: int
    plan_max_waiver_minor: int
    active: bool

    def can(self, permission: Permission) -> bool:
        return self.active and permission in PERMISSIONS[self.role]


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise RoleUnknown(text) from None


def _user(row: object) -> User:
    m = row._mapping  # type: ignore[attr-defined]
    return User(
        username=m["username"],
        display_name=m["display_name"],
        role=Role(m["role"]),
        team_id=m["team_id"],
        language=m["language"],
        plan_max_instalments=m["plan_max_instalments"],
        plan_max_waiver_minor=m["plan_max_waiver_minor"],
        active=bool(m["active"]),
    )


def get_user(conn: Connection, username: str) -> User:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        raise UserUnknown(username)
    return _user(row)


def find_user(conn: Connection, username: str) -> User | None:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    return None if row is None else _user(row)


def list_users(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(select(users).order_by(users.c.username))]


def accounts_listing(conn: Connection) -> list[Any]:
    """Every account as user admin lists it (username, display name, role — integration
    included —, team, plan limit, active), by username."""
    return list(
        conn.execute(
            select(
                users.c.username,
                users.c.display_name,
                users.c.role,
                users.c.team_id,
                users.c.plan_max_instalments,
                users.c.active,
            ).order_by(users.c.username)
        )
    )


def role_of(conn: Connection, username: str) -> str | None:
    """The account's role as stored (any role, integration included); None if unknown."""
    role = conn.scalar(select(users.c.role).where(users.c.username == username))
    return None if role is None else str(role)


def team_ids(conn: Connection) -> list[str]:
    return list(conn.scalars(select(teams.c.id).order_by(teams.c.id)))


def add_team(conn: Connection, team_id: str, name: str, queues: list[str]) -> None:
    if conn.execute(select(teams.c.id).where(teams.c.id == team_id)).first() is None:
        conn.execute(insert(teams).values(id=team_id, name=name))
    have = set(conn.scalars(select(team_queues.c.queue).where(team_queues.c.team_id == team_id)))
    for queue in queues:
        if queue not in have:
            conn.execute(insert(team_queues).values(team_id=team_id, queue=queue))


def team_queue_names(conn: Connection, team_id: str | None) -> list[str]:
    if team_id is None:
        return []
    return list(
        conn.scalars(
            select(team_queues.c.queue)
            .where(team_queues.c.team_id == team_id)
            .order_by(team_queues.c.queue)
        )
    )


def add_user(
    conn: Connection,
    username: str,
    password: str,
    role: Role | str,
    *,
    display_name: str | None = None,
    team_id: str | None = None,
    language: str = "zh-CN",
    plan_max_instalments: int = 2,
    plan_max_waiver_minor: int = 0,
    at: datetime | None = None,
    password_hash: str | None = None,
) -> User:
    """Add a user; `password_hash` (argon2) may stand in for hashing `password` again."""
    role = parse_role(str(role))
    if len(password) < 10:
        raise PasswordTooWeak()
    if find_user(conn, username) is not None:
        raise UserExists(username)
    conn.execute(
        insert(users).values(
            username=username,
            display_name=display_name or username,
            password_hash=password_hash or hash_password(password),
            role=role.value,
            team_id=team_id,
            language=language,
            plan_max_instalments=plan_max_instalments,
            plan_max_waiver_minor=plan_max_waiver_minor,
            active=True,
            created_at=at or datetime.now(UTC),
        )
    )
    return get_user(conn, username)


def set_password(conn: Connection, username: str, password: str) -> None:
    if len(password) < 10:
        raise PasswordTooWeak()
    done = conn.execute(
        update(users)
        .where(users.c.username == username)
        .values(password_hash=hash_password(password))
    ).rowcount
    if not done:
        raise UserUnknown(username)


def set_active(conn: Connection, username: str, active: bool) -> None:
    if not conn.execute(
        update(users).where(users.c.username == username).values(active=active)
    ).rowcount:
        raise UserUnknown(username)


# The demo's people: one of every role; the passwords are documented in docs/web.md.
DEMO_PASSWORD = "demo-password"
DEMO_USERS: tuple[tuple[str, Role, str, str | None], ...] = (
    # display names are people's names (the pages say the role in the page's language)
    ("admin", Role.ADMIN, "孙丽", None),
    ("agent", Role.AGENT, "李娜", "team-early"),
    ("agent2", Role.AGENT, "王强", "team-early"),
    ("agent3", Role.AGENT, "赵敏", "team-late"),
    ("lead", Role.TEAM_LEAD, "刘洋", "team-early"),
    ("lead2", Role.TEAM_LEAD, "周涛", "team-late"),
    ("manager", Role.MANAGER, "吴刚", None),
    ("strategist", Role.STRATEGIST, "陈静", None),
    ("compliance", Role.COMPLIANCE, "郑洁", None),
)
DEMO_TEAMS: tuple[tuple[str, str, list[str]], ...] = (
    ("team-early", "早期催收 Early collections", ["early", "hardship"]),
    ("team-late", "后期催收 Late collections", ["late", "legal"]),
)


def seed_demo_users(conn: Connection, password: str = DEMO_PASSWORD) -> list[str]:
    """Create the demo teams and one user of every role (idempotent); returns the usernames."""
    for team_id, name, queues in DEMO_TEAMS:
        add_team(conn, team_id, name, queues)
    made = []
    hashed = hash_password(password)  # one argon2 hash (salted once) for the shared demo password
    for username, role, display, team in DEMO_USERS:
        if find_user(conn, username) is None:
            add_user(
                conn,
                username,
                password,
                role,
                display_name=display,
                team_id=team,
                password_hash=hashed,
            )
        made.append(username)
    return made
