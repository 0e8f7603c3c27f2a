"""Strategies in production: deploy (maker), approve from a business date with the variants'
shares of new cases (checker, a second person), roll back; every step audited.

The YAML is kept verbatim with its SHA-256; the checks are `arrears strategy check`'s. A
deploy of the same name, version and text again changes nothing (re-runs are safe).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, func, insert, select, update

from arrears.domain.errors import DomainError
from arrears.engine.run_day import last_business_date
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.users import Permission, find_user
from arrears.store.tables_strategy import strategy_version_shares, strategy_versions
from arrears.strategy import loader
from arrears.strategy.deployed import Deployed as Deployed
from arrears.strategy.deployed import VersionStatus as VersionStatus
from arrears.strategy.deployed import case_strategy as case_strategy
from arrears.strategy.deployed import in_force, versions


class StrategyUserRefused(DomainError):
    pass


class StrategyVersionExists(DomainError):
    pass


class StrategyVersionUnknown(DomainError):
    pass


class StrategyNotPending(DomainError):
    pass


class StrategyApproverIsAuthor(DomainError):
    pass


class StrategyShareInvalid(DomainError):
    pass


class StrategyStartInPast(DomainError):
    pass


class StrategyNotInForce(DomainError):
    pass


ERRORS = (
    StrategyUserRefused,
    StrategyVersionExists,
    StrategyVersionUnknown,
    StrategyNotPending,
    StrategyApproverIsAuthor,
    StrategyShareInvalid,
    StrategyStartInPast,
    StrategyNotInForce,
    loader.StrategyInvalid,
)


def sha256_of(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _require(conn: Connection, username: str, permission: Permission, what: str) -> None:
    user = find_user(conn, username)
    if user is None or not user.active:
        raise StrategyUserRefused(f"no active user {username!r}; add one (arrears users add)")
    if not user.can(permission):
        raise StrategyUserRefused(
            f"user {username!r} ({user.role}) may not {what}; a strategist may"
        )


def _audit(
    conn: Connection,
    ring: KeyRing,
    by: str,
    d: Deployed,
    detail: Mapping[str, object],
    at: datetime,
) -> None:
    audit.append(
        conn,
        ring,
        actor=by,
        kind=audit.AuditKind.STRATEGY,
        subject=f"strategy:{d.name}:v{d.version}",
        detail={"sha256": d.sha256, **detail},
        at=at,
    )


def get_version(conn: Connection, name: str, version: int | None = None) -> Deployed:
    """One deployed version; without a number, the latest deployed."""
    mine = versions(conn, name)
    if version is not None:
        mine = [d for d in mine if d.version == version]
    if not mine:
        which = f"{name!r} version {version}" if version is not None else repr(name)
        raise StrategyVersionUnknown(
            f"no deployed strategy {which}; list them with `arrears strategy list`"
        )
    return max(mine, key=lambda d: d.version)


def deploy(
    conn: Connection,
    ring: KeyRing,
    *,
    source: str,
    path: str,
    by: str,
    migrate_open_cases: bool = False,
    at: datetime,
) -> Deployed:
    """Store a checked strategy as pending; the same name, version and text again is a no-op."""
    _require(conn, by, Permission.DEPLOY_STRATEGIES, "deploy strategies")
    strategy = loader.loads(source, path)
    digest = sha256_of(source)
    same = [d for d in versions(conn, strategy.name) if d.version == strategy.version]
    if same:
        if same[0].sha256 == digest and same[0].migrate_open_cases == migrate_open_cases:
            return same[0]
        raise StrategyVersionExists(
            f"strategy {strategy.name!r} version {strategy.version} is deployed already with "
            f"other content; raise `version:` in {path} and deploy again"
        )
    conn.execute(
        insert(strategy_versions).values(
            name=strategy.name,
            version=strategy.version,
            source=source,
            sha256=digest,
            status=VersionStatus.PENDING.value,
            migrate_open_cases=migrate_open_cases,
            deployed_by=by,
            deployed_at=at,
        )
    )
    deployed = get_version(conn, strategy.name, strategy.version)
    _audit(
        conn,
        ring,
        by,
        deployed,
        {"action": "deploy", "migrate_open_cases": migrate_open_cases, "file": path},
        at,
    )
    return deployed


def resolve_shares(d: Deployed, shares: Mapping[str, int]) -> list[tuple[str, int]]:
    """Every variant's share of new cases: those given, the rest from the file; when some are
    given and exactly one is not, that one takes what is left. They must add up to 100."""
    file_shares = [(v.name, v.share) for v in d.strategy().variants]
    names = [n for n, _ in file_shares]
    for name, pct in shares.items():
        if name not in names:
            raise StrategyShareInvalid(
                f"strategy {d.name!r} has no variant {name!r}; use one of {', '.join(names)}"
            )
        if not 0 <= pct <= 100:
            raise StrategyShareInvalid(f"share of {name!r} is {pct}%; give 0 to 100")
    missing = [n for n in names if n not in shares]
    if shares and len(missing) == 1:
        rest = 100 - sum(shares.values())
        resolved = [(n, shares.get(n, rest)) for n in names]
    else:
        resolved = [(n, shares.get(n, s)) for n, s in file_shares]
    total = sum(s for _, s in resolved)
    if total != 100 or any(s < 0 for _, s in resolved):
        given = ", ".join(f"{n}={s}" for n, s in resolved)
        raise StrategyShareInvalid(
            f"the shares must add up to 100% ({given} adds up to {total}%); "
            "name every variant's share but one"
        )
    return resolved


def _check_start(conn: Connection, active_from: date) -> None:
    last = last_business_date(conn)
    if last is not None and active_from <= last:
        raise StrategyStartInPast(
            f"the daily run has already run {last}; approve from a later business date "
            f"(--from {date.fromordinal(last.toordinal() + 1)} or after)"
        )


def approve(
    conn: Connection,
    ring: KeyRing,
    *,
    name: str,
    version: int,
    by: str,
    active_from: date,
    shares: Mapping[str, int] | None = None,
    at: datetime,
) -> Deployed:
    """A second person puts a pending version in force from a business date."""
    _require(conn, by, Permission.APPROVE_STRATEGIES, "approve strategies")
    d = get_version(conn, name, version)
    if d.status is not VersionStatus.PENDING:
        raise StrategyNotPending(
            f"strategy {name!r} version {version} is {d.status.value}, not pending; "
            "deploy a new version to change it"
        )
    if by == d.deployed_by:
        raise StrategyApproverIsAuthor(
            f"{by!r} deployed strategy {name!r} version {version} and may not approve it too; "
            "a second person approves (maker–checker)"
        )
    resolved = resolve_shares(d, shares or {})
    _check_start(conn, active_from)
    seq = (conn.scalar(select(func.max(strategy_versions.c.approval_seq))) or 0) + 1
    conn.execute(
        update(strategy_versions)
        .where(strategy_versions.c.id == d.id)
        .values(
            status=VersionStatus.APPROVED.value,
            approved_by=by,
            approved_at=at,
            approval_seq=seq,
            active_from=active_from,
        )
    )
    conn.execute(
        insert(strategy_version_shares),
        [{"version_id": d.id, "variant": n, "share": s} for n, s in resolved],
    )
    approved = get_version(conn, name, version)
    detail = {"action": "approve", "from": active_from.isoformat(), "shares": dict(resolved)}
    _audit(conn, ring, by, approved, detail, at)
    return approved


@dataclass(frozen=True)
class Rollback:
    retired: Deployed
    now_in_force: Deployed | None  # None: new cases follow the shipped seed again


def rollback(
    conn: Connection, ring: KeyRing, *, name: str, by: str, from_: date, at: datetime
) -> Rollback:
    """Retire the version of NAME in force from a business date: new cases go back to the
    version approved before it (or the shipped seed); open cases keep theirs."""
    _require(conn, by, Permission.DEPLOY_STRATEGIES, "roll strategies back")
    live = [d for d in versions(conn, name) if d.in_force(from_) or _starts_later(d, from_)]
    if not live:
        raise StrategyNotInForce(
            f"no approved version of strategy {name!r} is in force on {from_}; "
            "see `arrears strategy list`"
        )
    _check_start(conn, from_)
    retired = max(live, key=lambda d: d.approval_seq or 0)
    conn.execute(
        update(strategy_versions)
        .where(strategy_versions.c.id == retired.id)
        .values(status=VersionStatus.ROLLED_BACK.value, retired_from=from_, retired_by=by)
    )
    retired = get_version(conn, name, retired.version)
    now = in_force(conn, from_)
    back_to = f"{now.name} v{now.version}" if now else "seed (shipped)"
    _audit(
        conn,
        ring,
        by,
        retired,
        {"action": "rollback", "from": from_.isoformat(), "to": back_to},
        at,
    )
    return Rollback(retired, now)


def _starts_later(d: Deployed, on: date) -> bool:
    """Approved, not retired, starting after the date: rolling back cancels it before it starts."""
    return d.status is VersionStatus.APPROVED and d.active_from is not None and d.active_from > on


def list_versions(conn: Connection, name: str | None = None) -> list[Deployed]:
    return versions(conn, name)


def version_in_force(conn: Connection, on: date) -> Deployed | None:
    return in_force(conn, on)


def shares_of(conn: Connection, name: str, on: date) -> list[tuple[str, int]]:
    """The variants and shares of new cases of NAME's version approved last by the date
    (in force or rolled back since); empty when none was approved."""
    approved = [
        d
        for d in versions(conn, name)
        if d.approval_seq is not None and d.active_from is not None and d.active_from <= on
    ]
    latest = max(approved, key=lambda d: d.approval_seq or 0, default=None)
    return list(latest.shares) if latest else []
