"""External collection agencies: who they are and what they earn (commission tiers), which cases
go to them (placement rules), placing matching cases and recalling them. A placed case is the
agency's to work: the lender's run plans nothing for it (engine/plan_actions.py) until it is
recalled. Placements and recalls are audited. What an agency sees and reports over the API is
in `agency_portal`; commission in `agency_commission`; the placement file in `placement_file`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from sqlalchemy import Connection, and_, exists, insert, select, update

from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services import auth
from arrears.store import tables as t
from arrears.store.handover import call_off
from arrears.store.tables_agency import (
    agencies,
    agency_tiers,
    agency_tokens,
    placement_rules,
    placements,
)
from arrears.store.tables_compliance import disputes

AGENCY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")
PPM = Decimal(1_000_000)


class TierBasis(StrEnum):
    DPD = "dpd"  # the case's DPD on the day it was placed chooses the tier
    AGE = "age"  # the days the case had been placed when the payment came in


class PlacementStatus(StrEnum):
    PLACED = "placed"
    RECALLED = "recalled"


class AgencyInvalid(ValueError):
    pass


class AgencyExists(ValueError):
    def __init__(self, agency_id: str) -> None:
        super().__init__(f"agency {agency_id!r} exists already; `arrears agency list` shows it")


class AgencyUnknown(LookupError):
    def __init__(self, agency_id: str) -> None:
        super().__init__(f"no agency {agency_id!r}; add it with `arrears agency add`")


class TiersInvalid(ValueError):
    pass


class PlacementRuleInvalid(ValueError):
    pass


class PlacementUnknown(LookupError):
    pass


@dataclass(frozen=True)
class Tier:
    from_days: int
    rate: Decimal  # a fraction: 0.15 is 15 %


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    basis: TierBasis
    tiers: tuple[Tier, ...]
    active: bool
    placed: int  # cases placed with it now


@dataclass(frozen=True)
class PlacementRule:
    id: int
    agency_id: str
    min_dpd: int
    max_dpd: int | None
    no_active_plan: bool
    priority: int
    active: bool


@dataclass(frozen=True)
class Placement:
    id: int
    case_id: int
    agency_id: str
    rule_id: int | None
    placed_on: date
    dpd: int
    currency: str
    overdue: int  # minor units, when placed
    status: str
    recalled_on: date | None


# --- agencies and tiers -----------------------------------------------------------------------


def percent(rate: Decimal) -> str:
    """0.15 -> "15", 0.225 -> "22.5" (a rate as people write it, without a trailing zero)."""
    text = format(rate * 100, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """`0:15,120:20,180:25` — from day 0 15 %, from day 120 20 %, from day 180 25 %."""
    tiers: list[Tier] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        days, sep, pct = part.partition(":")
        try:
            tier = Tier(int(days), Decimal(pct.strip().rstrip("%")) / 100)
        except (ValueError, InvalidOperation):
            raise TiersInvalid(
                f"{part!r} is not a tier; write FROM_DAYS:PERCENT, e.g. 0:15,120:20"
            ) from None
        if not sep:
            raise TiersInvalid(f"{part!r} is not a tier; write FROM_DAYS:PERCENT, e.g. 0:15")
        tiers.append(tier)
    return check_tiers(tiers)


def check_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    ordered = tuple(sorted(tiers, key=lambda tier: tier.from_days))
    if not ordered or ordered[0].from_days != 0:
        raise TiersInvalid("the first tier starts at day 0 (e.g. 0:15)")
    if len({tier.from_days for tier in ordered}) != len(ordered):
        raise TiersInvalid("each tier starts on a different day")
    for tier in ordered:
        if not Decimal(0) <= tier.rate <= 1:
            raise TiersInvalid(f"a commission rate is between 0 and 100 %, not {tier.rate:%}")
        if (tier.rate * PPM) != (tier.rate * PPM).to_integral_value():
            raise TiersInvalid(f"{tier.rate * 100} % has more than 4 decimals")
    return ordered


def add_agency(
    conn: Connection,
    agency_id: str,
    name: str,
    tiers: Sequence[Tier],
    *,
    basis: str = TierBasis.DPD,
    by: str,
    at: datetime,
    ring: KeyRing,
) -> Agency:
    """A new agency with its commission tiers (all or nothing; audited)."""
    if not AGENCY_ID.match(agency_id):
        raise AgencyInvalid(
            f"{agency_id!r} is not an agency id; use 2-32 lower-case letters, digits, - or _"
        )
    if not name.strip():
        raise AgencyInvalid("an agency needs a name")
    try:
        kind = TierBasis(basis)
    except ValueError:
        raise AgencyInvalid(f"unknown tier basis {basis!r}; use dpd or age") from None
    ordered = check_tiers(tiers)
    if conn.scalar(select(agencies.c.id).where(agencies.c.id == agency_id)) is not None:
        raise AgencyExists(agency_id)
    conn.execute(
        insert(agencies).values(
            id=agency_id,
            name=name.strip(),
            tier_basis=kind.value,
            active=True,
            created_by=by,
            created_at=at,
        )
    )
    conn.execute(
        insert(agency_tiers),
        [
            {"agency_id": agency_id, "from_days": t_.from_days, "rate_ppm": int(t_.rate * PPM)}
            for t_ in ordered
        ],
    )
    _audit(
        conn,
        ring,
        by,
        at,
        f"agency:{agency_id}",
        {
            "action": "agency_added",
            "basis": kind.value,
            "tiers": [f"{t_.from_days}:{percent(t_.rate)}" for t_ in ordered],
        },
    )
    return get_agency(conn, agency_id)


def _tiers_of(conn: Connection, agency_id: str) -> tuple[Tier, ...]:
    rows = conn.execute(
        select(agency_tiers.c.from_days, agency_tiers.c.rate_ppm)
        .where(agency_tiers.c.agency_id == agency_id)
        .order_by(agency_tiers.c.from_days)
    )
    return tuple(Tier(r.from_days, Decimal(r.rate_ppm) / PPM) for r in rows)


def get_agency(conn: Connection, agency_id: str) -> Agency:
    found = [a for a in list_agencies(conn) if a.id == agency_id]
    if not found:
        raise AgencyUnknown(agency_id)
    return found[0]


def list_agencies(conn: Connection) -> list[Agency]:
    placed = (
        select(placements.c.agency_id, placements.c.id)
        .where(placements.c.status == PlacementStatus.PLACED.value)
        .subquery()
    )
    rows = conn.execute(select(agencies).order_by(agencies.c.id)).all()
    counts: dict[str, int] = {}
    for agency_id, _ in conn.execute(select(placed)):
        counts[agency_id] = counts.get(agency_id, 0) + 1
    return [
        Agency(
            r.id,
            r.name,
            TierBasis(r.tier_basis),
            _tiers_of(conn, r.id),
            bool(r.active),
            counts.get(r.id, 0),
        )
        for r in rows
    ]


def issue_agency_token(
    conn: Connection,
    agency_id: str,
    now: datetime,
    *,
    ring: KeyRing,
    by: str,
    ttl: timedelta = auth.TOKEN_TTL,
) -> str:
    """An integration token bound to the agency: it sees only the agency's placed cases."""
    agency = get_agency(conn, agency_id)
    secret = auth.issue_token(
        conn, f"agency:{agency.id}", frozenset({auth.Scope.AGENCY}), now, ttl, ring=ring, by=by
    )
    token_id = secret.split("_")[1]
    conn.execute(insert(agency_tokens).values(token_id=token_id, agency_id=agency.id))
    return secret


def agency_of_token(conn: Connection, token_id: str) -> str | None:
    """The agency a token is bound to (None: a token of the lender's own systems)."""
    return conn.scalar(
        select(agency_tokens.c.agency_id)
        .join(agencies, agencies.c.id == agency_tokens.c.agency_id)
        .where(agency_tokens.c.token_id == token_id, agencies.c.active.is_(True))
    )


# --- placement rules ----------------------------------------------------------------------------


def add_rule(
    conn: Connection,
    agency_id: str,
    *,
    min_dpd: int,
    max_dpd: int | None = None,
    no_active_plan: bool = True,
    priority: int = 100,
    by: str,
    at: datetime,
    ring: KeyRing,
) -> PlacementRule:
    """A rule placing open cases at `min_dpd` ≤ DPD (≤ `max_dpd`) with the agency; the lowest
    priority number is tried first."""
    get_agency(conn, agency_id)
    if min_dpd < 1:
        raise PlacementRuleInvalid(f"min DPD is at least 1, not {min_dpd}")
    if max_dpd is not None and max_dpd < min_dpd:
        raise PlacementRuleInvalid(f"max DPD {max_dpd} is below min DPD {min_dpd}")
    rule_id = conn.execute(
        insert(placement_rules)
        .values(
            agency_id=agency_id,
            min_dpd=min_dpd,
            max_dpd=max_dpd,
            no_active_plan=no_active_plan,
            priority=priority,
            active=True,
            created_by=by,
            created_at=at,
        )
        .returning(placement_rules.c.id)
    ).scalar_one()
    _audit(
        conn,
        ring,
        by,
        at,
        f"agency:{agency_id}",
        {
            "action": "rule_added",
            "rule": int(rule_id),
            "min_dpd": min_dpd,
            "max_dpd": max_dpd,
            "no_active_plan": no_active_plan,
            "priority": priority,
        },
    )
    return next(r for r in list_rules(conn) if r.id == rule_id)


def list_rules(conn: Connection, *, active_only: bool = False) -> list[PlacementRule]:
    r = placement_rules.c
    stmt = select(placement_rules).order_by(r.priority, r.id)
    if active_only:
        stmt = stmt.where(r.active.is_(True))
    return [
        PlacementRule(
            x.id, x.agency_id, x.min_dpd, x.max_dpd, bool(x.no_active_plan), x.priority, x.active
        )
        for x in conn.execute(stmt)
    ]


# --- placing and recalling ----------------------------------------------------------------------


def _candidates(conn: Connection, rule: PlacementRule) -> list[tuple[int, int, str, int]]:
    """Open cases the rule matches that are with the lender and were never recalled from an
    agency (a recalled case stays with the lender), not disputed: (id, dpd, currency, overdue)."""
    c, p, x = t.cases.c, placements.c, disputes.c
    conds = [
        c.status == "open",
        c.dpd >= rule.min_dpd,
        ~exists().where(p.case_id == c.id),
        ~exists().where(x.borrower_id == c.borrower_id, x.status == "open"),
    ]
    if rule.max_dpd is not None:
        conds.append(c.dpd <= rule.max_dpd)
    if rule.no_active_plan:
        pl = t.plans.c
        conds.append(~exists().where(pl.case_id == c.id, pl.status == "active"))
    rows = conn.execute(
        select(c.id, c.dpd, c.currency, c.overdue_amount).where(and_(*conds)).order_by(c.id)
    )
    return [(r.id, r.dpd, r.currency, r.overdue_amount) for r in rows]


def place(
    conn: Connection, as_of: date, *, by: str, at: datetime, ring: KeyRing
) -> list[Placement]:
    """Place every open case a rule matches with that rule's agency (the first rule that
    matches, by priority). Safe to re-run: a placed (or once recalled) case is not placed again.
    What the lender had planned or deferred for a placed case is called off."""
    placed: list[int] = []
    live = {a.id for a in list_agencies(conn) if a.active}
    for rule in list_rules(conn, active_only=True):
        if rule.agency_id not in live:
            continue
        for case_id, dpd, currency, overdue in _candidates(conn, rule):
            placed.append(
                _place_one(conn, case_id, rule, dpd, currency, overdue, as_of, by, at, ring)
            )
    if placed:
        _call_off(conn, as_of)
    return [get_placement(conn, pid) for pid in placed]


def _place_one(
    conn: Connection,
    case_id: int,
    rule: PlacementRule,
    dpd: int,
    currency: str,
    overdue: int,
    as_of: date,
    by: str,
    at: datetime,
    ring: KeyRing,
) -> int:
    pid = conn.execute(
        insert(placements)
        .values(
            case_id=case_id,
            agency_id=rule.agency_id,
            rule_id=rule.id,
            placed_on=as_of,
            dpd_at_placement=dpd,
            currency=currency,
            overdue_at_placement=overdue,
            status=PlacementStatus.PLACED.value,
            placed_by=by,
        )
        .returning(placements.c.id)
    ).scalar_one()
    _audit(
        conn,
        ring,
        by,
        at,
        f"case:{case_id}",
        {
            "action": "placed",
            "agency": rule.agency_id,
            "rule": rule.id,
            "placement": int(pid),
            "on": as_of.isoformat(),
            "dpd": dpd,
        },
    )
    return int(pid)


def _call_off(conn: Connection, as_of: date) -> None:
    """What the lender had planned, deferred or queued for the cases placed on `as_of` and not
    yet sent is called off (store/handover.py: its messages waiting in the outbox blocked, the
    actions cancelled)."""
    p = placements.c
    case_id = select(p.case_id).where(
        p.placed_on == as_of, p.status == PlacementStatus.PLACED.value
    )
    call_off(conn, case_id, "placed with an agency")


def recall(
    conn: Connection,
    as_of: date,
    *,
    case_id: int | None = None,
    agency_id: str | None = None,
    reason: str | None = None,
    by: str,
    at: datetime,
    ring: KeyRing,
) -> list[Placement]:
    """Return a case (or every case of an agency) to the lender: the agency's token no longer
    sees it and the next run plans the lender's outreach again. Audited."""
    if (case_id is None) == (agency_id is None):
        raise PlacementUnknown("name a case or an agency to recall (one of them)")
    if agency_id is not None:
        get_agency(conn, agency_id)
    p = placements.c
    which = p.case_id == case_id if case_id is not None else p.agency_id == agency_id
    ids = list(
        conn.scalars(
            select(p.id).where(which, p.status == PlacementStatus.PLACED.value).order_by(p.id)
        )
    )
    if case_id is not None and not ids:
        raise PlacementUnknown(f"case {case_id} is not placed with an agency")
    for pid in ids:
        conn.execute(
            update(placements)
            .where(p.id == pid)
            .values(
                status=PlacementStatus.RECALLED.value,
                recalled_on=as_of,
                recalled_by=by,
                recall_reason=reason,
            )
        )
        done = get_placement(conn, pid)
        _audit(
            conn,
            ring,
            by,
            at,
            f"case:{done.case_id}",
            {
                "action": "recalled",
                "agency": done.agency_id,
                "placement": pid,
                "on": as_of.isoformat(),
                "reason": reason,
            },
        )
    return [get_placement(conn, pid) for pid in ids]


def _placement(row: object) -> Placement:
    m = row._mapping  # type: ignore[attr-defined]
    return Placement(
        m["id"],
        m["case_id"],
        m["agency_id"],
        m["rule_id"],
        m["placed_on"],
        m["dpd_at_placement"],
        m["currency"],
        m["overdue_at_placement"],
        m["status"],
        m["recalled_on"],
    )


def get_placement(conn: Connection, placement_id: int) -> Placement:
    row = conn.execute(select(placements).where(placements.c.id == placement_id)).first()
    if row is None:
        raise PlacementUnknown(f"no placement {placement_id}")
    return _placement(row)


def placements_of(
    conn: Connection, *, agency_id: str | None = None, status: str | None = "placed"
) -> list[Placement]:
    p = placements.c
    stmt = select(placements).order_by(p.id)
    if agency_id is not None:
        stmt = stmt.where(p.agency_id == agency_id)
    if status is not None:
        stmt = stmt.where(p.status == PlacementStatus(status).value)
    return [_placement(r) for r in conn.execute(stmt)]


def placed_case(conn: Connection, agency_id: str, case_id: int) -> Placement | None:
    """The case's placement with this agency while it is placed; None otherwise (another
    agency's case, a recalled one, no such case: the agency cannot tell them apart)."""
    p = placements.c
    row = conn.execute(
        select(placements).where(
            p.case_id == case_id,
            p.agency_id == agency_id,
            p.status == PlacementStatus.PLACED.value,
        )
    ).first()
    return None if row is None else _placement(row)


def _audit(
    conn: Connection, ring: KeyRing, by: str, at: datetime, subject: str, detail: dict[str, object]
) -> None:
    audit.append(
        conn, ring, actor=by, kind=audit.AuditKind.AGENCY, subject=subject, detail=detail, at=at
    )
