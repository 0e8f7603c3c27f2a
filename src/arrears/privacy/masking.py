"""Who sees personal data: views mask it unless the role needs it; revealing needs a reason and
is audited; exports are audited."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, select

from arrears.domain.phone import mask_email, mask_name, mask_phone
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t


class Role(StrEnum):
    """A user's role (the one definition: sign-in, permissions, masking)."""

    AGENT = "agent"
    TEAM_LEAD = "team_lead"
    MANAGER = "manager"
    STRATEGIST = "strategist"  # writes, deploys and approves strategies; sees no personal data
    COMPLIANCE = "compliance"
    ADMIN = "admin"
    INTEGRATION = "integration"  # the lender's systems: HTTP API with a token, no workbench


class PersonalField(StrEnum):
    NAME = "name"
    PHONE = "phone"
    EMAIL = "email"
    ID_NUMBER = "id_number"
    ADDRESS = "address"


# Fields a role sees in clear in its views without asking (the integration feeds the lender's
# own systems: every read it makes is an audited export).
CLEAR: dict[Role, frozenset[PersonalField]] = {
    Role.AGENT: frozenset(),
    Role.TEAM_LEAD: frozenset(),
    Role.MANAGER: frozenset(),
    Role.COMPLIANCE: frozenset(),
    Role.ADMIN: frozenset(),
    Role.INTEGRATION: frozenset(PersonalField),
    Role.STRATEGIST: frozenset(),
}
# Roles that may reveal a masked field, with a reason.
MAY_REVEAL = frozenset({Role.TEAM_LEAD, Role.COMPLIANCE})
# Roles that may export personal data.
MAY_EXPORT = frozenset({Role.COMPLIANCE, Role.INTEGRATION})


class RevealRefused(PermissionError):
    pass


REVEAL_REASON_MIN = 10  # characters of reason a reveal needs (web and API alike)


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise RevealRefused(f"unknown role {text!r}; use one of {', '.join(Role)}") from None


def mask_id_number(value: str) -> str:
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_address(value: str) -> str:
    keep = 6 if not value.isascii() else 12
    return value[:keep] + "****" if len(value) > keep else "****"


MASKS = {
    PersonalField.NAME: mask_name,
    PersonalField.PHONE: mask_phone,
    PersonalField.EMAIL: mask_email,
    PersonalField.ID_NUMBER: mask_id_number,
    PersonalField.ADDRESS: mask_address,
}


def mask(field: PersonalField, value: str | None) -> str | None:
    return None if value is None else MASKS[field](value)


def view_borrower(
    conn: Connection, ring: KeyRing, borrower_id: str, role: Role | str
) -> dict[str, str | None]:
    """The borrower's personal data as the role may see it: masked unless the role needs it."""
    role = parse_role(str(role))
    row = conn.execute(select(t.borrowers).where(t.borrowers.c.id == borrower_id)).one()
    out: dict[str, str | None] = {"id": borrower_id}
    for f in PersonalField:
        plain = ring.decrypt(getattr(row, f"{f}_enc"))
        out[f.value] = plain if f in CLEAR[role] else mask(f, plain)
    return out


def reveal(
    conn: Connection,
    ring: KeyRing,
    *,
    actor: str,
    role: Role | str,
    borrower_id: str,
    field: PersonalField | str,
    reason: str,
    at: datetime,
) -> str | None:
    """One field in clear, for a role allowed to reveal, with a reason; the reveal is audited."""
    role, field = parse_role(str(role)), PersonalField(str(field))
    if role not in MAY_REVEAL and field not in CLEAR[role]:
        raise RevealRefused(f"a {role} may not reveal personal data; ask a team lead or compliance")
    if len(reason.strip()) < REVEAL_REASON_MIN:
        raise RevealRefused(
            f"say why you need to see it ({REVEAL_REASON_MIN}+ characters); the reason is audited"
        )
    blob = conn.execute(
        select(t.borrowers.c[f"{field}_enc"]).where(t.borrowers.c.id == borrower_id)
    ).scalar_one()
    audit.append(
        conn,
        ring,
        actor=actor,
        kind=audit.AuditKind.REVEAL,
        subject=f"borrower:{borrower_id}",
        detail={"field": field.value, "role": role.value, "reason": reason},
        at=at,
    )
    return ring.decrypt(blob)


def record_export(
    conn: Connection,
    ring: KeyRing,
    *,
    actor: str,
    role: Role | str,
    what: str,
    rows: int,
    reason: str,
    at: datetime,
) -> None:
    role = parse_role(str(role))
    if role not in MAY_EXPORT:
        raise RevealRefused(f"a {role} may not export personal data")
    audit.append(
        conn,
        ring,
        actor=actor,
        kind=audit.AuditKind.EXPORT,
        subject=what,
        detail={"rows": rows, "role": role.value, "reason": reason},
        at=at,
    )
