"""The nightly gate: every planned action of the business date decided under the rule pack.

The batch reads every counter and flag it needs in a few set-based queries, then decides each
action with the pure `decide`, then writes all decisions in one insert and applies them with
one UPDATE ... FROM."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, insert, select, text

from arrears.compliance.history import (
    as_utc,
    candidate_of,
    candidate_sql,
    count_allowed,
    decide_waived,
    decision_row,
    load_counters,
    overrides_of,
)
from arrears.compliance.loading import load_pack
from arrears.compliance.rules.clock import day_start, local_date
from arrears.compliance.rules.model import (
    Audience,
    Candidate,
    Decision,
    History,
    VerdictKind,
)
from arrears.compliance.rules.pack import Pack
from arrears.store import tables as t
from arrears.store.bulk import insert_rows
from arrears.store.sql import Dialect, dated
from arrears.store.tables_compliance import (
    gate_decisions,
)

CARRY_OVER_DAYS = 14


@dataclass(frozen=True)
class GateReport:
    business_date: date
    pack: str
    allowed: int = 0
    deferred: int = 0
    blocked: int = 0
    carried_over: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)  # "defer cn.time_window" -> n

    def as_dict(self) -> dict[str, object]:
        return {
            "business_date": self.business_date.isoformat(),
            "pack": self.pack,
            "allowed": self.allowed,
            "deferred": self.deferred,
            "blocked": self.blocked,
            "carried_over": self.carried_over,
            "by_rule": dict(self.by_rule),
        }


def _apply(conn: Connection, batch: str) -> None:
    """Copy the batch's decisions onto the actions in one statement."""
    status = (
        "CASE g.verdict WHEN 'allow' THEN 'planned' WHEN 'defer' THEN 'deferred' ELSE 'blocked' END"
    )
    conn.execute(
        text(
            f"""UPDATE actions SET status = {status}, scheduled_at = g.scheduled_at,
                       rule_id = g.rule_id,
                       reason = CASE WHEN g.verdict = 'allow' THEN NULL ELSE g.reason END
                FROM gate_decisions g
                WHERE g.batch = :batch AND g.action_id = actions.id"""
        ),
        {"batch": batch},
    )


# --- the nightly batch -------------------------------------------------------------------------


# every field of a candidate but its identities: what the rules read
_kind = attrgetter(
    *(
        f.name
        for f in fields(Candidate)
        if f.name not in {"case_id", "borrower_id", "action_id", "target_id"}
    )
)


class _Decisions:
    """`decide` once per kind of candidate: a night's actions are a few kinds (channel,
    template, step, time zone, the borrower's reachability, counters and flags, a contact's
    consent), each decided the same way. No rule reads the case, borrower or action id, nor a
    borrower's id as target (a contact's id appears in messages, so it stays in the key):
    candidates equal but for those are decided alike. A decision's recorded row is made once
    too."""

    def __init__(self, pack: Pack, batch: str, business_date: date) -> None:
        self.pack, self.batch, self.business_date = pack, batch, business_date
        self.seen: dict[tuple[Any, ...], tuple[Decision, dict[str, Any]]] = {}

    def of(
        self, c: Candidate, h: History, at: datetime, waived: set[str]
    ) -> tuple[Decision, dict[str, Any]]:
        target = c.target_id if c.audience is Audience.CONTACT else ""
        key = (_kind(c), target, h, at, frozenset(waived))
        found = self.seen.get(key)
        if found is None:
            dec = decide_waived(c, h, self.pack, at, waived)
            row = decision_row(self.batch, "plan", 0, self.business_date, at, dec)
            found = self.seen[key] = (dec, row)
        return found


def gate_planned_actions(conn: Connection, business_date: date, rule_pack: str) -> GateReport:
    """Decide every planned, not yet gated action of the business date under the rule pack.

    allow → stays planned with `scheduled_at` (first allowed moment of the day, recipient's
    local time, in UTC); defer → deferred with the next allowed moment; block → blocked with
    rule id and reason. Deferred actions whose moment has come are carried over to the day.
    """
    pack = load_pack(rule_pack)
    carried = _carry_over(conn, business_date)
    sql = Dialect.of(conn)
    scope = (
        f"s.business_date = {sql.date_param('d')} AND s.status = 'planned' "
        "AND s.scheduled_at IS NULL"
    )
    params: dict[str, Any] = {"d": business_date}
    rows = conn.execute(dated(candidate_sql(sql, scope.replace("s.", "a.")), "d"), params).all()
    if not rows:
        return GateReport(business_date, pack.code, carried_over=carried)
    k = load_counters(conn, business_date, pack, scope, params, exclude=-1)
    waived = overrides_of(conn, scope, params)
    batch = uuid.uuid4().hex
    decisions = []
    tally: Counter[str] = Counter()
    verdicts: Counter[VerdictKind] = Counter()
    starts: dict[str, datetime] = {}
    decided = _Decisions(pack, batch, business_date)
    for row in rows:
        c, h = candidate_of(row, k, business_date)
        at = starts.get(c.timezone)
        if at is None:
            at = starts[c.timezone] = day_start(business_date, c.timezone)
        dec, recorded = decided.of(c, h, at, waived.get(row.id, set()))
        count_allowed(k, c, row.number_index, dec)
        verdicts[dec.verdict] += 1
        if dec.rule_id:
            tally[f"{dec.verdict} {dec.rule_id}"] += 1
        decisions.append({**recorded, "action_id": row.id})
    insert_rows(conn, gate_decisions, decisions)
    _apply(conn, batch)
    return GateReport(
        business_date,
        pack.code,
        allowed=verdicts[VerdictKind.ALLOW],
        deferred=verdicts[VerdictKind.DEFER],
        blocked=verdicts[VerdictKind.BLOCK],
        carried_over=carried,
        by_rule=dict(sorted(tally.items())),
    )


def _carry_over(conn: Connection, d: date) -> int:
    """Deferred actions whose moment falls on d come back as d's planned actions.

    The deferred action keeps its status (reports count it); a 'carry' decision links it to
    the new one, so it is carried once.
    """
    a = t.actions
    horizon = datetime.combine(d + timedelta(days=2), time(0), tzinfo=UTC)
    carried_before = select(gate_decisions.c.action_id).where(gate_decisions.c.stage == "carry")
    rows = conn.execute(
        select(a, t.borrowers.c.timezone, t.cases.c.status.label("case_status"))
        .join(t.cases, t.cases.c.id == a.c.case_id)
        .join(t.borrowers, t.borrowers.c.id == t.cases.c.borrower_id)
        .where(
            a.c.status == "deferred",
            a.c.business_date < d,
            a.c.scheduled_at < horizon,
            a.c.id.not_in(carried_before),
        )
    ).all()
    due = [r for r in rows if local_date(as_utc(r.scheduled_at), r.timezone) <= d]  # type: ignore[arg-type]
    batch = uuid.uuid4().hex
    carried = 0
    for r in due:
        if r.case_status != "open" or (d - r.business_date).days > CARRY_OVER_DAYS:
            reason = "case closed meanwhile" if r.case_status != "open" else "deferred too long"
            conn.execute(a.update().where(a.c.id == r.id).values(status="cancelled", reason=reason))
            continue
        key = (
            a.c.case_id == r.case_id,
            a.c.business_date == d,
            a.c.step == r.step,
            a.c.target_type == r.target_type,
            a.c.target_id == r.target_id,
            a.c.channel == r.channel,
        )
        new_id = conn.execute(select(a.c.id).where(*key)).scalar()
        if new_id is None:
            new_id = conn.execute(
                insert(a)
                .values(
                    case_id=r.case_id,
                    business_date=d,
                    step=r.step,
                    target_type=r.target_type,
                    target_id=r.target_id,
                    channel=r.channel,
                    template=r.template,
                    status="planned",
                    priority=r.priority,
                )
                .returning(a.c.id)
            ).scalar_one()
            carried += 1
        conn.execute(
            insert(gate_decisions).values(
                batch=batch,
                action_id=r.id,
                business_date=r.business_date,
                stage="carry",
                pack="-",
                decided_for=horizon,
                verdict="defer",
                scheduled_at=as_utc(r.scheduled_at),
                rule_id=r.rule_id,
                reason=f"carried over to {d} as action {new_id}",
                consulted="",
                violations="[]",
            )
        )
    return carried
