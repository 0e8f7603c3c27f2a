"""Every role an account may hold, and what the web application does with each.

The roles are the privacy area's list (`privacy.masking.Role`): the five people who work in the
workbench and `integration`, the lender's own systems, which use the HTTP API with a token and
never the workbench. An account of a role without a home page (integration) is refused at
sign-in and on every page with 403, and is still listed in user admin with its role.

User admin lists every account with whether it has a workbench; the team lead's pages see only
workbench accounts, so an integration account never appears among agents.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from arrears.privacy.masking import Role as AnyRole
from arrears.services.users import Role, accounts_listing

# Every role, in the order user admin lists them.
ROLES: tuple[str, ...] = tuple(r.value for r in AnyRole)

# The page each workbench role starts on; a role missing here has no workbench.
HOME: dict[str, str] = {
    Role.AGENT.value: "/agent",
    Role.TEAM_LEAD.value: "/lead",
    Role.MANAGER.value: "/manager",
    Role.COMPLIANCE.value: "/compliance",
    Role.ADMIN.value: "/admin/users",
    Role.STRATEGIST.value: "/strategies",
}

API_ONLY = "this account is for the HTTP API (integration); the workbench is not open to it"


def has_workbench(role: str) -> bool:
    return role in HOME


def creatable_roles() -> list[str]:
    """The roles user admin offers for a new account: those the user service accepts."""
    known = {r.value for r in Role}
    return [r for r in ROLES if r in known]


@dataclass(frozen=True)
class Person:
    """An account as user admin lists it, whatever its role."""

    username: str
    display_name: str
    role: str
    team_id: str | None
    plan_max_instalments: int
    active: bool

    @property
    def workbench(self) -> bool:
        return has_workbench(self.role)


def people(conn: Connection) -> list[Person]:
    return [
        Person(
            username=r.username,
            display_name=r.display_name,
            role=r.role,
            team_id=r.team_id,
            plan_max_instalments=r.plan_max_instalments,
            active=bool(r.active),
        )
        for r in accounts_listing(conn)
    ]
