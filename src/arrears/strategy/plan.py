# ruff: noqa: E501  (messages and SQL read better unbroken)
"""Run a compiled strategy against the database: assign variants, plan the day's actions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, select, text

from arrears.domain.errors import DomainError
from arrears.domain.strategy.evaluate import PlannedAction
from arrears.domain.strategy.model import Strategy
from arrears.store.sql import staged
from arrears.store.staged_actions import GATE_COLUMNS, index_key, not_planned_yet
from arrears.store.tables import actions
from arrears.strategy.compile import (
    Sql,
    actions_from,
    bucket_sql,
    fields_read,
    plan_query,
    quote,
    segments_query,
    variant_sql,
)

COLUMNS = ("case_id", "step", "target_type", "target_id", "channel", "template", "priority")
PINNED = "pinned"  # the salt recorded for an assignment placed by a pin, not drawn by the hash


class PinInvalid(DomainError):
    pass


@dataclass(frozen=True)
class Pinned:
    """A strategy with some borrowers' new cases placed in a named variant instead of the hash.

    For a scripted case (the demo's case study) that must follow one variant's steps. A pin
    acts once, when the case is first assigned: it is stored in `strategy_assignments` like any
    assignment (with the bucket the hash would have given) but with the salt `pinned`, so the
    experiment report leaves it out of the randomised cohort. Cases already assigned keep
    their variant.
    """

    strategy: Strategy
    variants: Mapping[str, str] = field(default_factory=dict)  # borrower id -> variant

    def __post_init__(self) -> None:
        names = [v.name for v in self.strategy.variants]
        for borrower, variant in sorted(self.variants.items()):
            if variant not in names:
                raise PinInvalid(
                    f"borrower {borrower!r} pinned to {variant!r}, which strategy "
                    f"{self.strategy.name!r} does not have; use one of {', '.join(names)}"
                )


def _case_filter(case_ids: Sequence[int] | None, alias: str = "c") -> str:
    if case_ids is None:
        return ""
    ids = ", ".join(str(int(i)) for i in case_ids) or "NULL"
    return f" AND {alias}.id IN ({ids})"


def assign_variants(
    conn: Connection,
    strategy: Strategy,
    as_of: date,
    case_ids: Sequence[int] | None = None,
    pins: Mapping[str, str] | None = None,
) -> int:
    """Give every open case without one its variant of this strategy; returns how many.

    A case keeps the variant it was given: changing the shares moves only cases assigned later.
    The case row mirrors the strategy and variant that plan it. `pins` (borrower id -> variant)
    places those borrowers' unassigned cases in the named variant, recorded with salt `pinned`.
    """
    sql = Sql(conn.dialect.name)
    name = quote(strategy.name)
    pinned = 0
    for borrower, variant in sorted((pins or {}).items()):
        pinned += (
            conn.execute(
                text(
                    f"""INSERT INTO strategy_assignments (case_id, strategy, salt, bucket,
                                                          variant, assigned_on)
                        SELECT c.id, {name}, {quote(PINNED)}, {bucket_sql(strategy, "c.id")},
                               {quote(variant)}, {sql.date(as_of)}
                        FROM cases c
                        WHERE c.status = 'open' AND c.borrower_id = {quote(borrower)}
                          AND NOT EXISTS (SELECT 1 FROM strategy_assignments s
                                          WHERE s.case_id = c.id AND s.strategy = {name}){_case_filter(case_ids)}"""
                )
            ).rowcount
            or 0
        )
    # gathered first: an insert that reads the table it writes rescans its own new pages
    with staged(
        conn,
        "new_assignments",
        f"""SELECT c.id AS case_id FROM cases c
            WHERE c.status = 'open'
              AND NOT EXISTS (SELECT 1 FROM strategy_assignments s
                              WHERE s.case_id = c.id AND s.strategy = {name}){_case_filter(case_ids)}""",
    ) as fresh:
        new = conn.execute(
            text(
                f"""INSERT INTO strategy_assignments (case_id, strategy, salt, bucket, variant,
                                                      assigned_on)
                    SELECT n.case_id, {name}, {quote(strategy.salt)}, {bucket_sql(strategy, "n.case_id")},
                           {variant_sql(strategy, "n.case_id")}, {sql.date(as_of)}
                    FROM {fresh} n ORDER BY n.case_id"""
            )
        ).rowcount
    conn.execute(
        text(
            f"""UPDATE cases SET strategy = {name}, variant = s.variant
                FROM strategy_assignments s
                WHERE s.case_id = cases.id AND s.strategy = {name} AND cases.status = 'open'
                  AND (cases.strategy <> {name} OR cases.variant <> s.variant)"""
        )
    )
    return pinned + (new or 0)


# a case in legal stays on the legal queue until the legal team closes or withdraws it
_NOT_IN_LEGAL = (
    "NOT EXISTS (SELECT 1 FROM legal_cases l WHERE l.case_id = cases.id AND l.ended_on IS NULL)"
)


def _set_queues(conn: Connection, strategy: Strategy, as_of: date, facts: str) -> None:
    """Each open case's queue: its segment's, then the queue of an action planned today (a case
    in legal keeps the legal queue: services/legal.py)."""
    queues = [(s.name, s.queue) for s in strategy.segments if s.queue]
    if not queues:
        return
    whens = " ".join(f"WHEN {quote(n)} THEN {quote(q)}" for n, q in queues)
    conn.execute(
        text(
            f"""UPDATE cases SET queue = s.queue
                FROM (SELECT x.case_id, CASE x.segment {whens} END AS queue
                      FROM {facts} x) s
                WHERE cases.id = s.case_id AND s.queue IS NOT NULL AND cases.queue <> s.queue
                  AND {_NOT_IN_LEGAL}"""
        )
    )
    if any(a.queue for st in strategy.steps for a in st.actions):
        plan = actions_from(strategy, conn.dialect.name, as_of, facts)
        conn.execute(
            text(
                f"""UPDATE cases SET queue = s.queue
                    FROM (SELECT case_id, MIN(queue) AS queue FROM ({plan}) p
                          WHERE queue IS NOT NULL GROUP BY case_id) s
                    WHERE cases.id = s.case_id AND cases.queue <> s.queue AND {_NOT_IN_LEGAL}"""
            )
        )


def plan_with(
    conn: Connection,
    strategy: Strategy,
    as_of: date,
    case_ids: Sequence[int] | None = None,
    pins: Mapping[str, str] | None = None,
    *,
    into: str | None = None,
) -> int:
    """Insert the day's candidate actions (status planned); returns how many are new.
    `into`: the night's staging table (`store/staged_actions.py`) instead of the actions."""
    with without_jit(conn):
        return _plan(conn, strategy, as_of, case_ids, pins, into)


@contextmanager
def without_jit(conn: Connection) -> Iterator[None]:
    """The compiled query is wide (a SELECT per step): PostgreSQL's JIT would spend seconds
    compiling it for a sub-second run (4.6 s of 4.9 s for 3,000 cases); off, then restored."""
    if conn.dialect.name != "postgresql":
        yield
        return
    jit = conn.execute(text("SELECT current_setting('jit')")).scalar_one()
    conn.execute(text("SELECT set_config('jit', 'off', true)"))
    try:
        yield
    finally:
        conn.execute(text("SELECT set_config('jit', :v, true)"), {"v": jit})


def _plan(
    conn: Connection,
    strategy: Strategy,
    as_of: date,
    case_ids: Sequence[int] | None,
    pins: Mapping[str, str] | None = None,
    into: str | None = None,
) -> int:
    assign_variants(conn, strategy, as_of, case_ids, pins)
    if conn.dialect.name == "postgresql" and case_ids is None:
        # the day's run has just opened and assigned cases: without fresh statistics the
        # planner expects one open case and nests loops over thousands (seconds -> minutes)
        conn.execute(text("ANALYZE cases, strategy_assignments"))
    sql = Sql(conn.dialect.name)
    # every open case's fields that the strategy reads, and its segment, gathered once for the
    # actions and the queues
    # staged for the gate: each row keeps what the gate reads of its case and borrower
    fields = fields_read(strategy) | (frozenset(GATE_COLUMNS) if into else frozenset())
    facts = segments_query(strategy, sql.dialect, as_of, _case_filter(case_ids), fields)
    with staged(conn, "case_facts", facts) as table:
        query = actions_from(strategy, sql.dialect, as_of, table)
        # staged: leave out what the day has already (run again, or a case re-planned by hand);
        # a first run of the day has nothing to look up
        new = "1 = 1"
        if into and _has_actions(conn, as_of):
            new = not_planned_yet("q", sql.date(as_of))
        # Into an empty staging table, a strategy whose steps each reach a person once per
        # channel plans no row twice: nothing to skip, and PostgreSQL's check of each row
        # before it is written (ON CONFLICT) cost 0.5 s of 2.2 s for 200,000 rows.
        skip = (
            "" if into and _once_each(strategy) and _empty(conn, into) else "ON CONFLICT DO NOTHING"
        )
        if into and skip:
            index_key(conn, into)
        gate_columns = gate_values = with_facts = ""
        if into:  # what the gate reads of the case and borrower, from the facts (gf)
            gate_columns = "".join(f", {c}" for c in GATE_COLUMNS)
            gate_values = "".join(f", gf.{c}" for c in GATE_COLUMNS)
            with_facts = f" JOIN {table} gf ON gf.case_id = q.case_id"
        inserted = conn.execute(
            text(
                f"""INSERT INTO {into or "actions"} (case_id, business_date, step, target_type,
                                         target_id, channel, template, status, priority
                                         {gate_columns})
                    SELECT q.case_id, {sql.date(as_of)}, q.step, q.target_type, q.target_id,
                           q.channel, q.template, 'planned', q.priority
                           {gate_values}
                    FROM ({query}) q{with_facts} WHERE {new}
                    {skip}"""
            )
        ).rowcount
        _set_queues(conn, strategy, as_of, table)
    return inserted or 0


def _once_each(strategy: Strategy) -> bool:
    """No two of the strategy's actions share a step, channel and addressee (the loader's rule,
    checked again for a strategy built in code): one case's rows then differ in their key."""
    keys = [(st.name, a.channel, a.target) for st in strategy.steps for a in st.actions]
    return len(keys) == len(set(keys))


def _empty(conn: Connection, table: str) -> bool:
    return conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is None


def _has_actions(conn: Connection, as_of: date) -> bool:
    found = conn.execute(
        select(actions.c.id).where(actions.c.business_date == as_of).limit(1)
    ).first()
    return found is not None


def preview(
    conn: Connection,
    strategy: Strategy,
    as_of: date,
    case_ids: Sequence[int] | None = None,
) -> list[PlannedAction]:
    """The actions the compiled strategy would plan on as_of, without writing anything."""
    query = plan_query(strategy, conn.dialect.name, as_of, _case_filter(case_ids))
    with without_jit(conn):
        rows = conn.execute(text(f"SELECT {', '.join(COLUMNS)} FROM ({query}) q")).all()
    actions = [PlannedAction(int(r[0]), r[1], r[2], str(r[3]), r[4], r[5], int(r[6])) for r in rows]
    return sorted(actions, key=PlannedAction.key)


def segments(
    conn: Connection,
    strategy: Strategy,
    as_of: date,
    case_ids: Sequence[int] | None = None,
) -> dict[int, tuple[str | None, str]]:
    """Each open case's segment and variant under the strategy."""
    query = segments_query(strategy, conn.dialect.name, as_of, _case_filter(case_ids))
    with without_jit(conn):
        rows = conn.execute(text(f"SELECT case_id, segment, variant FROM ({query}) q")).all()
    return {int(r[0]): (r[1], str(r[2])) for r in rows}
