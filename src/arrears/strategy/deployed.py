"""Deployed strategies as the nightly run uses them: which version is in force on a date, and
which version plans each open case.

A version approved from a date is in force from that date until a later approval or its
rollback; of those in force, the latest approval wins. A new case (never planned) is given
the version in force, an open case keeps the version it was given until it closes — unless
the version in force was deployed to move open cases, which then records each case it
moves (`migrated`). With no version ever approved, every case follows the shipped strategies
as before deployment existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache

from sqlalchemy import ColumnElement, Connection, and_, exists, insert, literal, select

from arrears.domain.strategy.model import Strategy
from arrears.domain.strategy.variants import Variant
from arrears.store.tables import cases
from arrears.store.tables_strategy import (
    case_strategy_versions,
    strategy_assignments,
    strategy_version_shares,
    strategy_versions,
)
from arrears.strategy.loader import BUILTIN, load, loads


class VersionStatus(StrEnum):
    PENDING = "pending"  # deployed, waiting for a second person's approval
    APPROVED = "approved"
    ROLLED_BACK = "rolled_back"


class CaseReason(StrEnum):
    NEW = "new"  # given to the case the first night it was planned
    MIGRATED = "migrated"  # an open case moved by a deploy made to move open cases


def approval_in_force(
    approval_seq: int | None, active_from: date | None, retired_from: date | None, on: date
) -> bool:
    """Whether an approved version (of a strategy or a score model) is in force on the date:
    approved from that date or before, and not rolled back from it or before."""
    return (
        approval_seq is not None
        and active_from is not None
        and active_from <= on
        and (retired_from is None or on < retired_from)
    )


@dataclass(frozen=True)
class Deployed:
    id: int
    name: str
    version: int
    sha256: str
    status: VersionStatus
    migrate_open_cases: bool
    deployed_by: str
    deployed_at: datetime
    source: str
    approved_by: str | None = None
    approved_at: datetime | None = None
    approval_seq: int | None = None
    active_from: date | None = None
    retired_from: date | None = None
    retired_by: str | None = None
    shares: tuple[tuple[str, int], ...] = ()  # (variant, percent) set at approval

    def in_force(self, on: date) -> bool:
        return approval_in_force(self.approval_seq, self.active_from, self.retired_from, on)

    def strategy(self) -> Strategy:
        """The stored YAML with the approved shares of new cases."""
        return with_shares(_parse(self.source), self.shares)


@lru_cache(maxsize=64)
def _parse(source: str) -> Strategy:
    return loads(source, "<deployed>")


def with_shares(strategy: Strategy, shares: Sequence[tuple[str, int]]) -> Strategy:
    if not shares:
        return strategy
    of = dict(shares)
    variants = tuple(Variant(v.name, of.get(v.name, 0)) for v in strategy.variants)
    return replace(strategy, variants=variants)


def _day(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def versions(conn: Connection, name: str | None = None) -> list[Deployed]:
    """Every deployed version (of one strategy), in the order deployed."""
    v = strategy_versions
    query = select(v).order_by(v.c.id)
    if name is not None:
        query = query.where(v.c.name == name)
    rows = conn.execute(query).all()
    shares: dict[int, list[tuple[str, int]]] = {}
    s = strategy_version_shares
    for vid, variant, share in conn.execute(select(s.c.version_id, s.c.variant, s.c.share)):
        shares.setdefault(int(vid), []).append((variant, int(share)))
    out = []
    for r in rows:
        m = r._mapping
        order = {n: i for i, n in enumerate(_names(m["source"]))}
        mine = sorted(shares.get(int(m["id"]), []), key=lambda x: order.get(x[0], len(order)))
        out.append(
            Deployed(
                id=int(m["id"]),
                name=m["name"],
                version=int(m["version"]),
                sha256=m["sha256"],
                status=VersionStatus(m["status"]),
                migrate_open_cases=bool(m["migrate_open_cases"]),
                deployed_by=m["deployed_by"],
                deployed_at=m["deployed_at"],
                source=m["source"],
                approved_by=m["approved_by"],
                approved_at=m["approved_at"],
                approval_seq=m["approval_seq"],
                active_from=_day(m["active_from"]),
                retired_from=_day(m["retired_from"]),
                retired_by=m["retired_by"],
                shares=tuple(mine),
            )
        )
    return out


def _names(source: str) -> list[str]:
    return [v.name for v in _parse(source).variants]


def in_force(conn: Connection, on: date) -> Deployed | None:
    """The version that plans new cases on the date (None: the shipped default)."""
    live = [d for d in versions(conn) if d.in_force(on)]
    return max(live, key=lambda d: d.approval_seq or 0, default=None)


def ever_approved(conn: Connection) -> bool:
    v = strategy_versions
    return conn.scalar(select(v.c.id).where(v.c.approval_seq.is_not(None)).limit(1)) is not None


def plan_groups(
    conn: Connection, as_of: date, case_ids: Sequence[int] | None
) -> list[tuple[Strategy, list[int]]] | None:
    """The strategy each open case (of case_ids, or all) is planned with on the date, after
    giving new cases the version in force and moving open cases where its deploy says so.
    None when no version was ever approved: the caller plans as before deployment existed."""
    if not ever_approved(conn):
        return None
    which: ColumnElement[bool] = cases.c.status == "open"
    if case_ids is not None:
        which = and_(which, cases.c.id.in_(list(case_ids)))
    current = in_force(conn, as_of)
    if current is not None:
        _give_new(conn, current, as_of, which)
        if current.migrate_open_cases:
            _migrate(conn, current, as_of, which)
    return _groups(conn, which)


def _give_new(conn: Connection, current: Deployed, as_of: date, which: ColumnElement[bool]) -> None:
    """Cases never planned (no variant of any strategy, no version) take the one in force."""
    a, cv = strategy_assignments, case_strategy_versions
    fresh = select(cases.c.id, literal(current.id), literal(as_of), literal(CaseReason.NEW.value))
    fresh = fresh.where(
        which,
        ~exists().where(a.c.case_id == cases.c.id),
        ~exists().where(cv.c.case_id == cases.c.id),
    )
    conn.execute(insert(cv).from_select(["case_id", "version_id", "since", "reason"], fresh))


def _migrate(conn: Connection, current: Deployed, as_of: date, which: ColumnElement[bool]) -> None:
    """Open cases not yet under this version move to it, each move recorded."""
    cv = case_strategy_versions
    moving = select(
        cases.c.id, literal(current.id), literal(as_of), literal(CaseReason.MIGRATED.value)
    ).where(
        which,
        ~exists().where(cv.c.case_id == cases.c.id, cv.c.version_id == current.id),
    )
    conn.execute(insert(cv).from_select(["case_id", "version_id", "since", "reason"], moving))


def _groups(conn: Connection, which: ColumnElement[bool]) -> list[tuple[Strategy, list[int]]]:
    """Open cases by the strategy that plans them: the newest version recorded for the case,
    else the shipped strategy the case is under."""
    cv = case_strategy_versions
    open_cases = conn.execute(select(cases.c.id, cases.c.strategy).where(which)).all()
    recorded = select(cv.c.case_id).join(cases, cases.c.id == cv.c.case_id).where(which)
    newest: dict[int, int] = {}
    for case_id, version_id in conn.execute(
        select(cv.c.case_id, cv.c.version_id)
        .where(cv.c.case_id.in_(recorded))
        .order_by(cv.c.since, cv.c.version_id)
    ):
        newest[int(case_id)] = int(version_id)  # the latest wins
    by_key: dict[tuple[str, int], list[int]] = {}
    for case_id, name in open_cases:
        vid = newest.get(int(case_id))
        key = ("", vid) if vid is not None else (_shipped(name), 0)
        by_key.setdefault(key, []).append(int(case_id))
    deployed = {d.id: d for d in versions(conn)} if newest else {}
    return [
        (deployed[vid].strategy() if not name else load(name), ids)
        for (name, vid), ids in sorted(by_key.items())
    ]


def case_strategy(conn: Connection, case_id: int) -> Strategy | None:
    """The deployed version that plans the case (None: it follows a shipped strategy)."""
    cv = case_strategy_versions
    vid = conn.scalar(
        select(cv.c.version_id)
        .where(cv.c.case_id == case_id)
        .order_by(cv.c.since.desc(), cv.c.version_id.desc())
        .limit(1)
    )
    if vid is None:
        return None
    return next(d.strategy() for d in versions(conn) if d.id == vid)


def _shipped(name: str) -> str:
    return name if name in BUILTIN else "seed"
