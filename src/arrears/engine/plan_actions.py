"""Plan the day's candidate actions from the strategy, for every open case at once.

The strategy (by default the seed's, `arrears/strategy/seed.yaml`) is compiled to one SQL
query — segments, variants, triggers and conditions over every open case — whose rows are
inserted as `actions` (status planned). Rows are unique per case, date, step, target and
channel, so planning again the same day adds only what is new — the service that records a
call outcome re-plans one case to reach its contacts the same day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    select,
)

from arrears.domain.strategy.model import Strategy
from arrears.store.handover import handed_over_case_ids
from arrears.store.tables import actions, cases
from arrears.store.tables_compliance import disputes
from arrears.strategy.deployed import plan_groups
from arrears.strategy.loader import BUILTIN, load
from arrears.strategy.plan import Pinned, plan_with


def plan_actions(
    conn: Connection,
    as_of: date,
    strategy: object | None = None,
    case_ids: Sequence[int] | None = None,
    *,
    into: str | None = None,
) -> int:
    """Insert the day's candidate actions; returns how many are new. `into`: the night's
    staging table (`store/staged_actions.py`), where the gate finds them, instead of the actions.

    strategy: a Strategy, a shipped name (seed, seed_challenger_day3), a file path, or a
    `Pinned` strategy (some borrowers' new cases placed in a named variant); None plans each
    case with the deployed version it was given and new cases with the version in force
    (`strategy/deployed.py`) — or, before any deployment was approved, each case with the
    shipped strategy it is under (an experiment's cases stay in their variant) and new cases
    with the seed.
    """
    planned = _plan(conn, as_of, strategy, case_ids, into)
    table = _staged(into) if into else actions
    return (
        planned - _paused_by_dispute(conn, as_of, table) - _paused_by_handover(conn, as_of, table)
    )


def _staged(name: str) -> Table:
    """What the pauses read of a staged row (`store/staged_actions.py`)."""
    return Table(
        name,
        MetaData(),
        Column("case_id", Integer),
        Column("business_date", Date),
        Column("status", String(16)),
        Column("scheduled_at", DateTime(timezone=True)),
    )


def _paused_by_handover(conn: Connection, as_of: date, a: Table) -> int:
    """A case placed with an external agency is the agency's to work until recalled, a case in
    legal the legal team's until closed or withdrawn: the lender plans nothing of its own for
    them (services/agencies.py, services/legal.py; store/handover.py)."""
    placed = handed_over_case_ids()
    return (
        conn.execute(
            delete(a).where(
                a.c.business_date == as_of,
                a.c.status == "planned",
                a.c.scheduled_at.is_(None),
                a.c.case_id.in_(placed),
            )
        ).rowcount
        or 0
    )


def _paused_by_dispute(conn: Connection, as_of: date, a: Table) -> int:
    """A case whose borrower disputes the debt is paused until the dispute is verified or
    withdrawn: what was just planned for it is taken back (nothing of it was judged yet)."""
    c, x = cases, disputes
    disputed = (
        select(c.c.id)
        .join(x, x.c.borrower_id == c.c.borrower_id)
        .where(x.c.status == "open", c.c.status == "open")
    )
    return (
        conn.execute(
            delete(a).where(
                a.c.business_date == as_of,
                a.c.status == "planned",
                a.c.scheduled_at.is_(None),
                a.c.case_id.in_(disputed),
            )
        ).rowcount
        or 0
    )


def _plan(
    conn: Connection,
    as_of: date,
    strategy: object | None,
    case_ids: Sequence[int] | None,
    into: str | None,
) -> int:
    if isinstance(strategy, Pinned):
        return plan_with(conn, strategy.strategy, as_of, case_ids, strategy.variants, into=into)
    if strategy is not None:
        return plan_with(conn, load(strategy), as_of, case_ids, into=into)
    groups = plan_groups(conn, as_of, case_ids)
    if groups is not None:  # a strategy was deployed: each case under its version
        if case_ids is None and len(groups) == 1:
            return plan_with(conn, groups[0][0], as_of, None, into=into)
        return sum(plan_with(conn, chosen, as_of, ids, into=into) for chosen, ids in groups)
    if case_ids is None:
        # the whole portfolio under the default: a case already given a variant of another
        # shipped strategy (a running experiment) stays in it; new cases follow the seed
        running = set(
            conn.scalars(
                select(cases.c.strategy)
                .where(cases.c.status == "open", cases.c.strategy != "seed")
                .distinct()
            )
        )
        if not running & set(BUILTIN):
            return plan_with(conn, load(None), as_of, None, into=into)
        which = cases.c.status == "open"
    else:
        which = cases.c.id.in_(list(case_ids))
    by_strategy: dict[str, list[int]] = defaultdict(list)
    rows = conn.execute(select(cases.c.id, cases.c.strategy).where(which))
    for case_id, name in rows:
        by_strategy[name if name in BUILTIN else "seed"].append(case_id)
    planned = 0
    for name, ids in sorted(by_strategy.items()):
        chosen: Strategy = load(name)
        planned += plan_with(conn, chosen, as_of, ids, into=into)
    return planned
