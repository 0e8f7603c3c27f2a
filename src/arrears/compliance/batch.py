"""The nightly gate: every planned action of the business date decided under the rule pack.

The batch reads every counter and flag it needs in a few set-based queries, sorts the actions
into kinds in SQL (`compliance/kinds.py`), decides each kind once with the pure `decide` (and
the few calls that must be counted in order, one by one), then records the decisions
set-based: each kind is one ruling (`gate_rulings`, a few hundred rows with every rule
consulted); which kind each action is (two numbers an action) goes to a temporary table, from
which the night's actions are written, or the day's earlier ones updated, decided: each with
its verdict and the ruling it was decided by (`actions.ruling_id`)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import Column, Connection, Integer, Text, insert, select, text

from arrears.compliance import kinds as kinds_of
from arrears.compliance.history import (
    Counters,
    as_utc,
    candidate_of,
    count_allowed,
    decide_waived,
    kind_key,
    load_counters,
    overrides_of,
)
from arrears.compliance.loading import PackChoice, load_pack, pack_choice
from arrears.compliance.recording import insert_rulings, record, ruling_row
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
from arrears.store.bulk import insert_rows, insert_values, temporary_table
from arrears.store.sql import Dialect, analyze_temporary, dated
from arrears.store.staged_actions import KEY, not_planned_yet, number, source
from arrears.store.tables_compliance import gate_decisions, gate_rulings

CARRY_OVER_DAYS = 14
_NONE_WAIVED: frozenset[str] = frozenset()


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


# what the statements that write the actions read of a kind besides its ruling's id
_KIND = ("verdict", "rule_id", "scheduled_at", "reason")


_REASON = "CASE WHEN k.verdict = 'allow' THEN NULL ELSE k.reason END"


def _status(alias: str, queue: Sequence[str]) -> str:
    """SQL: the status a verdict of kind `k` gives the action `alias`."""
    allowed = "'planned'"
    if queue:
        channels = ", ".join(f"'{c}'" for c in queue)
        allowed = f"CASE WHEN {alias}.channel IN ({channels}) THEN 'queued' ELSE 'planned' END"
    return f"CASE k.verdict WHEN 'allow' THEN {allowed} WHEN 'defer' THEN 'deferred' " + (
        "ELSE 'blocked' END"
    )


def _write_staged(conn: Connection, staged: str, queue: Sequence[str]) -> None:
    """The night's staged actions as actions, decided; a row the gate did not read (none
    should be) is written as planned, for the next run of the day to decide."""
    cols = ("id", *KEY, "template", "priority")
    status = f"CASE WHEN k.kind IS NULL THEN 'planned' ELSE {_status('s', queue)} END"
    conn.execute(
        text(
            f"""INSERT INTO actions ({", ".join(cols)}, status, scheduled_at, rule_id, reason,
                                     ruling_id)
                SELECT {", ".join(f"s.{c}" for c in cols)}, {status},
                       k.scheduled_at, k.rule_id, {_REASON}, k.ruling_id
                FROM {staged} s
                LEFT JOIN tmp_gate_actions m ON m.action_id = s.id
                LEFT JOIN tmp_gate_kinds k ON k.kind = m.kind
                ORDER BY s.id"""
        )
    )


def _record(
    conn: Connection,
    kinds: Sequence[dict[str, Any]],
    queue: Sequence[str],
    staged: str | None,
) -> None:
    """Write every kind's ruling and apply the verdicts, each action naming its ruling,
    set-based from the kinds.

    `kinds`: the ruling of each kind of decision (kind n is `kinds[n]`); `tmp_gate_actions`:
    (action id, kind) of each action. An allowed action of a channel in `queue` leaves the
    gate queued (the daily run's messages, whose outbox rows it writes next). The actions
    already written are updated; the `staged` ones are written, already decided: each action
    is written once a night."""
    ids = insert_rulings(conn, kinds)
    columns = {c.name: c.type for c in gate_rulings.columns}
    kind = temporary_table(
        conn,
        "tmp_gate_kinds",
        Column("kind", Integer),
        Column("ruling_id", Integer),
        *(Column(name, columns[name]) for name in _KIND),
    )
    insert_rows(
        conn,
        kind,
        [
            {"kind": n, "ruling_id": i, **{c: row[c] for c in _KIND}}
            for n, (row, i) in enumerate(zip(kinds, ids, strict=True))
        ],
    )
    analyze_temporary(conn, "tmp_gate_kinds", "tmp_gate_actions")
    conn.execute(
        text(
            f"""UPDATE actions SET status = {_status("actions", queue)},
                       scheduled_at = k.scheduled_at, rule_id = k.rule_id,
                       reason = {_REASON}, ruling_id = k.ruling_id
                FROM tmp_gate_actions m JOIN tmp_gate_kinds k ON k.kind = m.kind
                WHERE m.action_id = actions.id"""
        )
    )
    if staged is not None:
        _write_staged(conn, staged, queue)
    conn.execute(text("DROP TABLE IF EXISTS tmp_gate_kinds"))
    conn.execute(text("DROP TABLE IF EXISTS tmp_gate_actions"))


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
    candidates equal but for those are decided alike. A decision's ruling is made once too,
    and numbered: the actions are recorded by the number of their kind.

    A row of the night's candidates is looked up by its `kind_key` first (the values the
    candidate is made of, minus the identities): the candidate and its history are made only
    for a row unlike any before, not for each of a first day's hundreds of thousands."""

    def __init__(
        self,
        pack: Pack,
        batch: str,
        business_date: date,
        kinds: list[dict[str, Any]],
        decisions: list[Decision],
    ) -> None:
        self.pack, self.batch, self.business_date = pack, batch, business_date
        self.seen: dict[tuple[Any, ...], tuple[Decision, int]] = {}
        self.rows: dict[tuple[Any, ...], tuple[Decision, int]] = {}  # by kind_key, waivers
        self.starts: dict[str, datetime] = {}  # the business day's start per time zone
        # shared by every pack's batch of the night: each kind's ruling and decision
        self.kinds, self.decisions = kinds, decisions

    def of_row(self, row: Any, k: Counters, waived: frozenset[str]) -> tuple[Decision, int]:
        key = (kind_key(row, k, self.business_date), waived)
        found = self.rows.get(key)
        if found is None:
            c, h = candidate_of(row, k, self.business_date)
            at = self.starts.get(c.timezone)
            if at is None:
                at = self.starts[c.timezone] = day_start(self.business_date, c.timezone)
            found = self.rows[key] = self.of(c, h, at, waived)
        return found

    def of(
        self, c: Candidate, h: History, at: datetime, waived: frozenset[str]
    ) -> tuple[Decision, int]:
        target = c.target_id if c.audience is Audience.CONTACT else ""
        key = (_kind(c), target, h, at, waived)
        found = self.seen.get(key)
        if found is None:
            dec = decide_waived(c, h, self.pack, at, set(waived))
            self.kinds.append(ruling_row(self.batch, "plan", self.business_date, at, dec))
            self.decisions.append(dec)
            found = self.seen[key] = (dec, len(self.kinds) - 1)
        return found


def gate_planned_actions(
    conn: Connection,
    business_date: date,
    rule_pack: str,
    *,
    queue: Sequence[str] = (),
    staged: str | None = None,
) -> GateReport:
    """Decide every planned, not yet gated action of the business date, each under the rule
    pack of its borrower's jurisdiction (`compliance_jurisdictions`, else the portfolio's
    default; `rule_pack` is the default only for a database that names none).

    allow → stays planned with `scheduled_at` (first allowed moment of the day, recipient's
    local time, in UTC); defer → deferred with the next allowed moment; block → blocked with
    rule id and reason. Deferred actions whose moment has come are carried over to the day.
    The actions are grouped by pack, and each group is decided set-based as one night's batch.
    Every pack in use is loaded first: one that cannot load stops the whole gate (fails closed).
    `queue`: channels whose allowed actions are queued at once (see `_record`). `staged`: the
    night's plan in its staging table (`store/staged_actions.py`): decided with the actions of
    the day not yet gated, and written as actions once, already decided.
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
    if staged is not None:  # numbered after the gate's own inserts, which win a shared key
        conn.execute(
            dated(
                f"DELETE FROM {staged} WHERE NOT {not_planned_yet(staged, sql.date_param('d'))}",
                "d",
            ),
            params,
        )
        number(conn, staged)
    src = source(staged)
    if not kinds_of.gather(conn, scope.replace("s.", "a."), params, choice, staged):
        kinds_of.drop_all(conn)
        return GateReport(business_date, choice.default, carried_over=carried)
    in_use = kinds_of.packs_in_use(conn)
    waived = overrides_of(conn, scope, params, src)
    batch = uuid.uuid4().hex
    kinds: list[dict[str, Any]] = []
    verdict_of: list[Decision] = []  # each kind's decision, by number
    acted = temporary_table(
        conn, "tmp_gate_actions", *(Column(n, Integer) for n in ("action_id", "kind"))
    )
    for code in in_use:
        pack = packs[code]
        # the counters of this pack's borrowers only (all of them when one pack is in use)
        own = scope if len(in_use) == 1 else f"{scope} AND {_of_pack(choice, code)}"
        k = load_counters(conn, business_date, pack, own, params, exclude=-1, source=src)
        decided = _Decisions(pack, batch, business_date, kinds, verdict_of)
        by_key = [
            (row.kind_key, decided.of_row(row, k, _NONE_WAIVED)[1])
            for row in kinds_of.key_kinds(conn, code, k)
        ]
        _by_kind(conn, by_key)
        judged: list[tuple[int, int]] = []
        for row in kinds_of.sequential(conn, code):
            overridden = waived.get(row.id)
            dec, kind = decided.of_row(
                row, k, frozenset(overridden) if overridden else _NONE_WAIVED
            )
            count_allowed(k, row, business_date, dec)
            judged.append((row.id, kind))
        insert_values(conn, acted, ("action_id", "kind"), judged)
    verdicts, tally = _tallies(conn, verdict_of)
    _record(conn, kinds, queue, staged)
    kinds_of.drop_all(conn)
    record_gate({str(v): n for v, n in verdicts.items()}, tally)  # counts, not actions
    return GateReport(
        business_date,
        ",".join(in_use),
        allowed=verdicts[VerdictKind.ALLOW],
        deferred=verdicts[VerdictKind.DEFER],
        blocked=verdicts[VerdictKind.BLOCK],
        carried_over=carried,
        by_rule=dict(sorted(tally.items())),
    )


def _by_kind(conn: Connection, by_key: Sequence[tuple[str, int]]) -> None:
    """Every candidate keyed by `kinds.key_kinds` takes the kind its key was decided as."""
    table = temporary_table(
        conn, "tmp_gate_key_kinds", Column("kind_key", Text), Column("kind", Integer)
    )
    insert_values(conn, table, ("kind_key", "kind"), by_key)
    conn.execute(
        text(
            f"""INSERT INTO tmp_gate_actions (action_id, kind)
                SELECT x.id, kk.kind FROM {kinds_of.KEYED} x
                JOIN tmp_gate_key_kinds kk ON kk.kind_key = x.kind_key"""
        )
    )
    conn.execute(text("DROP TABLE tmp_gate_key_kinds"))


def _tallies(
    conn: Connection, verdict_of: Sequence[Decision]
) -> tuple[Counter[VerdictKind], Counter[str]]:
    """How many actions each verdict, and each verdict of a rule, had: counted per kind."""
    verdicts: Counter[VerdictKind] = Counter()
    tally: Counter[str] = Counter()
    for kind, n in conn.execute(text("SELECT kind, COUNT(*) FROM tmp_gate_actions GROUP BY kind")):
        dec = verdict_of[kind]
        verdicts[dec.verdict] += n
        if dec.rule_id:
            tally[f"{dec.verdict} {dec.rule_id}"] += n
    return verdicts, tally


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
    recorded: list[tuple[int, dict[str, Any]]] = []
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
        carry = Decision(
            verdict=VerdictKind.DEFER,
            at=as_utc(r.scheduled_at),
            rule_id=r.rule_id,
            reason=f"carried over to {d} as action {new_id}",
            consulted=(),
            pack="-",
        )
        recorded.append((r.id, ruling_row(batch, "carry", r.business_date, horizon, carry)))
    record(conn, recorded)
    return carried
