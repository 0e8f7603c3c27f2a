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
from arrears.compliance.loading import PackChoice, load_pack, pack_choice
from arrears.compliance.rules.clock import day_start, local_date
from arrears.compliance.rules.model import (
    Audience,
    Candidate,
    Decision,
    History,
    VerdictKind,
)
from arrears.compliance.rules.pack import Pack
from arrears.compliance.rules.validation import NOTICE_TEMPLATE
from arrears.observability.metrics import record_gate
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
    """Decide every planned, not yet gated action of the business date, each under the rule
    pack of its borrower's jurisdiction (`compliance_jurisdictions`, else the portfolio's
    default; `rule_pack` is the default only for a database that names none).

    allow → stays planned with `scheduled_at` (first allowed moment of the day, recipient's
    local time, in UTC); defer → deferred with the next allowed moment; block → blocked with
    rule id and reason. Deferred actions whose moment has come are carried over to the day.
    The actions are grouped by pack, and each group is decided set-based as one night's batch.
    Every pack in use is loaded first: one that cannot load stops the whole gate (fails closed).
    """
    choice = pack_choice(conn, fallback=rule_pack)
    packs = {code: load_pack(code) for code in sorted(choice.codes)}
    carried = _carry_over(conn, business_date)
    sql = Dialect.of(conn)
    scope = (
        f"s.business_date = {sql.date_param('d')} AND s.status = 'planned' "
        "AND s.scheduled_at IS NULL"
    )
    params: dict[str, Any] = {"d": business_date}
    for code, pack in packs.items():
        if pack.validation_notice:
            plan_validation_notices(conn, business_date, choice, code)
    rows = conn.execute(dated(candidate_sql(sql, scope.replace("s.", "a.")), "d"), params).all()
    if not rows:
        return GateReport(business_date, choice.default, carried_over=carried)
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(choice.code_for(row.jurisdiction), []).append(row)
    waived = overrides_of(conn, scope, params)
    batch = uuid.uuid4().hex
    decisions = []
    tally: Counter[str] = Counter()
    verdicts: Counter[VerdictKind] = Counter()
    starts: dict[str, datetime] = {}
    for code, group in sorted(groups.items()):
        pack = packs[code]
        # the counters of this pack's borrowers only (all of them when one pack is in use)
        own = scope if len(groups) == 1 else f"{scope} AND {_of_pack(choice, code)}"
        k = load_counters(conn, business_date, pack, own, params, exclude=-1)
        decided = _Decisions(pack, batch, business_date)
        for row in group:
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
    record_gate({str(v): n for v, n in verdicts.items()}, tally)  # counts, not actions
    return GateReport(
        business_date,
        ",".join(sorted(groups)),
        allowed=verdicts[VerdictKind.ALLOW],
        deferred=verdicts[VerdictKind.DEFER],
        blocked=verdicts[VerdictKind.BLOCK],
        carried_over=carried,
        by_rule=dict(sorted(tally.items())),
    )


def _of_pack(choice: PackChoice, code: str) -> str:
    """SQL over actions `s`: the action's borrower is judged under pack `code`."""
    return (
        "s.case_id IN (SELECT pc.id FROM cases pc JOIN borrowers pb ON pb.id = pc.borrower_id "
        f"WHERE {choice.sql_case('pb.jurisdiction')} = '{code}')"
    )


def plan_validation_notices(conn: Connection, d: date, choice: PackChoice, code: str) -> int:
    """The validation notice (Regulation F §1006.34) of every open case under pack `code` that
    has none yet: an e-mail when the borrower has an address, else a letter, planned for `d`
    ahead of the day's other actions. A notice that failed or was cancelled is planned again;
    none is planned while the borrower's dispute is open (collection is paused)."""
    sql = Dialect.of(conn)
    dp = sql.date_param("d")
    jurisdiction = choice.sql_case("b.jurisdiction")
    return (
        conn.execute(
            dated(
                f"""INSERT INTO actions (case_id, business_date, step, target_type, target_id,
                                         channel, template, status, priority)
                    SELECT c.id, {dp}, '{NOTICE_TEMPLATE}', 'borrower', c.borrower_id,
                           CASE WHEN b.email_enc IS NULL THEN 'letter' ELSE 'email' END,
                           '{NOTICE_TEMPLATE}', 'planned', 1
                    FROM cases c JOIN borrowers b ON b.id = c.borrower_id
                    WHERE c.status = 'open' AND {jurisdiction} = '{code}'
                      AND NOT EXISTS (
                        SELECT 1 FROM actions x WHERE x.case_id = c.id
                          AND x.template = '{NOTICE_TEMPLATE}'
                          AND x.status NOT IN ('failed', 'cancelled'))
                      AND NOT EXISTS (
                        SELECT 1 FROM disputes dx
                        WHERE dx.borrower_id = c.borrower_id AND dx.status = 'open')""",
                "d",
            ),
            {"d": d},
        ).rowcount
        or 0
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
