"""The compliance gate over the database: the nightly batch over the day's planned actions, the
send-time check for one action, agent-initiated outreach, overrides, explain and report.

The batch reads every counter and flag it needs in a few set-based queries (per borrower, per
phone number, per debt, over the whole history), then decides each action with the pure
`decide`, then writes all decisions in one insert and applies them with one UPDATE ... FROM.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, insert, select, text

from arrears.domain.compliance.clock import day_start, local_date
from arrears.domain.compliance.gate import decide
from arrears.domain.compliance.model import (
    Audience,
    Candidate,
    Channel,
    Consulted,
    Decision,
    Flag,
    FlagState,
    History,
    Preferences,
    Verdict,
    Violation,
    Window,
    parse_flag,
)
from arrears.domain.compliance.pack import Pack
from arrears.domain.compliance.packs import get_pack
from arrears.domain.compliance.scripts import SCRIPTS
from arrears.domain.outcomes import CONNECTED
from arrears.engine.sql import Dialect, dated
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from arrears.store.bulk import insert_rows
from arrears.store.schema import metadata
from arrears.store.tables_compliance import (
    borrower_flags,
    compliance_holidays,
    compliance_overrides,
    compliance_settings,
    contact_preferences,
    gate_decisions,
)

CONTACT_OUTCOMES = ("contact_reached", "contact_refused", "message_left")
CARRY_OVER_DAYS = 14
_STATUS = {Verdict.ALLOW: "planned", Verdict.DEFER: "deferred", Verdict.BLOCK: "blocked"}


class ActionNotFound(LookupError):
    def __init__(self, action_id: int) -> None:
        super().__init__(f"no action {action_id}; list the day's actions with `arrears actions`")


class OverrideRefused(ValueError):
    pass


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


# --- loading: candidates and their history, set-based -----------------------------------------

_NUMBER = "CASE WHEN {a}.target_type = 'contact' THEN ct.phone_index ELSE b.phone_index END"


def _candidate_sql(sql: Dialect, where: str) -> str:
    return f"""
        SELECT a.id, a.case_id, a.step, a.target_type, a.target_id, a.channel, a.template,
               a.business_date, a.status, a.scheduled_at, c.borrower_id, c.unreachable_on,
               b.timezone, b.phone_status,
               b.language, ct.consent AS contact_consent, ct.status AS contact_status,
               {_NUMBER.format(a="a")} AS number_index
        FROM actions a
        JOIN cases c ON c.id = a.case_id
        JOIN borrowers b ON b.id = c.borrower_id
        LEFT JOIN contacts ct ON a.target_type = 'contact' AND ct.id = a.target_id
        WHERE {where}
        ORDER BY a.priority, a.id"""


@dataclass
class _Counters:
    connected_today: Counter[str] = field(default_factory=Counter)  # borrower -> n
    attempts_today: Counter[str] = field(default_factory=Counter)  # number -> n
    attempt_days: defaultdict[int, list[date]] = field(default_factory=lambda: defaultdict(list))
    last_conversation: dict[int, date] = field(default_factory=dict)  # case -> day
    third_party: Counter[str] = field(default_factory=Counter)  # contact -> n
    flags: defaultdict[str, list[FlagState]] = field(default_factory=lambda: defaultdict(list))
    opted_out: defaultdict[str, set[Channel]] = field(default_factory=lambda: defaultdict(set))
    preferences: dict[str, Preferences] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    texts: dict[tuple[str, str], str] = field(default_factory=dict)  # (template, channel)


def _in_list(values: Iterable[object]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _connected() -> str:
    return _in_list(sorted(CONNECTED))


def _load_counters(
    conn: Connection,
    d: date,
    pack: Pack,
    scope: str,
    params: dict[str, Any],
    exclude: int,
    *,
    by_number: bool = False,
) -> _Counters:
    """Counters of the borrowers, numbers and debts in scope (`scope`: SQL over actions `s`).

    `by_number`: count today's calls per number by index look-ups from the numbers in scope
    (the send-time check of a few actions) rather than over the whole day (the nightly batch).
    """
    sql = Dialect.of(conn)
    dp = sql.date_param("d")
    k = _Counters()
    p = {**params, "d": d, "exclude": exclude}
    cases_in = f"SELECT s.case_id FROM actions s WHERE {scope}"
    borrowers_in = (
        f"SELECT sc.borrower_id FROM actions s JOIN cases sc ON sc.id = s.case_id WHERE {scope}"
    )

    def run(stmt: str, **extra: Any) -> Sequence[Any]:
        used = {n: v for n, v in {**p, **extra}.items() if f":{n}" in stmt}
        return conn.execute(_statement(stmt), used).all()

    for borrower_id, n in run(
        f"""SELECT c.borrower_id, COUNT(*) FROM interactions i JOIN cases c ON c.id = i.case_id
            WHERE i.business_date = {dp} AND i.channel = 'call' AND i.target_type = 'borrower'
              AND i.outcome IN {_connected()} AND c.borrower_id IN ({borrowers_in})
            GROUP BY c.borrower_id"""
    ):
        k.connected_today[borrower_id] = n
    # attempts today per number: calls made, and calls allowed today still to be made
    numbers: list[str] = []
    if by_number:  # the numbers first: index look-ups whatever the planner's statistics
        numbers = sorted(
            {
                num
                for (num,) in run(
                    f"""SELECT {_NUMBER.format(a="s")} FROM actions s
                        JOIN cases c ON c.id = s.case_id JOIN borrowers b ON b.id = c.borrower_id
                        LEFT JOIN contacts ct ON s.target_type = 'contact' AND ct.id = s.target_id
                        WHERE {scope}"""
                )
                if num
            }
        )
    for number, n in (
        (run(_attempts_by_number_sql(dp), nums=numbers) if numbers else ())
        if by_number
        else run(
            f"""SELECT num, COUNT(*) FROM (
              SELECT {_NUMBER.format(a="i")} AS num
              FROM interactions i JOIN cases c ON c.id = i.case_id
              JOIN borrowers b ON b.id = c.borrower_id
              LEFT JOIN contacts ct ON i.target_type = 'contact' AND ct.id = i.target_id
              WHERE i.business_date = {dp} AND i.channel = 'call'
              UNION ALL
              SELECT {_NUMBER.format(a="a")} AS num
              FROM actions a JOIN cases c ON c.id = a.case_id
              JOIN borrowers b ON b.id = c.borrower_id
              LEFT JOIN contacts ct ON a.target_type = 'contact' AND ct.id = a.target_id
              WHERE a.business_date = {dp} AND a.channel = 'call' AND a.status = 'planned'
                AND a.scheduled_at IS NOT NULL AND a.id <> :exclude
            ) x WHERE num IS NOT NULL GROUP BY num"""
        )
    ):
        k.attempts_today[number] = n
    if pack.attempts_per_debt_7_days is not None:
        week = sql.add_days(dp, "-6")
        for case_id, day, n in run(
            f"""SELECT case_id, business_date, COUNT(*) FROM (
                  SELECT i.case_id, i.business_date FROM interactions i
                  WHERE i.channel = 'call' AND i.target_type = 'borrower'
                    AND i.business_date BETWEEN {week} AND {dp} AND i.case_id IN ({cases_in})
                  UNION ALL
                  SELECT a.case_id, a.business_date FROM actions a
                  WHERE a.business_date = {dp} AND a.channel = 'call' AND a.status = 'planned'
                    AND a.target_type = 'borrower' AND a.scheduled_at IS NOT NULL
                    AND a.id <> :exclude AND a.case_id IN ({cases_in})
                ) x GROUP BY case_id, business_date"""
        ):
            k.attempt_days[case_id] += [_as_date(day)] * n
    if pack.quiet_days_after_conversation is not None:
        for case_id, day in run(
            f"""SELECT i.case_id, MAX(i.business_date) FROM interactions i
                WHERE i.channel = 'call' AND i.target_type = 'borrower'
                  AND i.outcome IN {_connected()} AND i.case_id IN ({cases_in})
                GROUP BY i.case_id"""
        ):
            k.last_conversation[case_id] = _as_date(day)
    if pack.third_party_once:
        for contact_id, n in run(
            f"""SELECT i.target_id, COUNT(*) FROM interactions i
                WHERE i.target_type = 'contact' AND i.outcome IN {_in_list(CONTACT_OUTCOMES)}
                  AND i.target_id IN (SELECT s.target_id FROM actions s WHERE {scope}
                                      AND s.target_type = 'contact')
                GROUP BY i.target_id"""
        ):
            k.third_party[contact_id] = n
    for borrower_id, flag, since, until in run(
        f"""SELECT f.borrower_id, f.flag, f.since, f.until FROM borrower_flags f
            WHERE f.lifted_on IS NULL AND (f.until IS NULL OR f.until >= {dp})
              AND f.borrower_id IN ({borrowers_in})"""
    ):
        k.flags[borrower_id].append(
            FlagState(Flag(flag), _as_date(since), _as_date(until) if until else None)
        )
    if "comm_suppressions" in metadata.tables:
        for channel, number in run(
            f"""SELECT sp.channel, sp.address_index FROM comm_suppressions sp
                WHERE sp.address_index IN (
                  SELECT {_NUMBER.format(a="s")} FROM actions s JOIN cases c ON c.id = s.case_id
                  JOIN borrowers b ON b.id = c.borrower_id
                  LEFT JOIN contacts ct ON s.target_type = 'contact' AND ct.id = s.target_id
                  WHERE {scope})"""
        ):
            try:
                k.opted_out[number].add(Channel(channel))
            except ValueError:
                continue
    for row in run(
        f"""SELECT borrower_id, agreed_hours, inconvenient_hours, refused_channels
            FROM contact_preferences WHERE borrower_id IN ({borrowers_in})"""
    ):
        k.preferences[row[0]] = parse_preferences(row[1], row[2], row[3])
    k.holidays = frozenset(
        _as_date(day)
        for (day,) in run(
            f"SELECT day FROM compliance_holidays WHERE pack = :pack AND day >= {dp}",
            pack=pack.code,
        )
    )
    k.texts = _texts(conn)
    return k


def _attempts_by_number_sql(dp: str) -> str:
    """Today's calls made and still to be made per number (`:nums`), reached from the numbers
    by index (borrowers and contacts by phone index, their cases, the cases' calls). A contact's
    calls are on the cases of the borrower the contact belongs to."""
    made = f"i.business_date = {dp} AND i.channel = 'call'"
    planned = (
        f"a.business_date = {dp} AND a.channel = 'call' AND a.status = 'planned' "
        "AND a.scheduled_at IS NOT NULL AND a.id <> :exclude"
    )
    # CROSS JOIN: SQLite keeps this join order (numbers first) rather than scanning the day
    return f"""SELECT num, COUNT(*) FROM (
          SELECT b.phone_index AS num FROM borrowers b
          CROSS JOIN cases c CROSS JOIN interactions i
          WHERE b.phone_index IN :nums AND c.borrower_id = b.id AND i.case_id = c.id
            AND {made} AND i.target_type <> 'contact'
          UNION ALL
          SELECT ct.phone_index FROM contacts ct
          CROSS JOIN cases c CROSS JOIN interactions i
          WHERE ct.phone_index IN :nums AND c.borrower_id = ct.borrower_id
            AND i.case_id = c.id AND i.target_type = 'contact' AND i.target_id = ct.id
            AND {made}
          UNION ALL
          SELECT b.phone_index FROM borrowers b
          CROSS JOIN cases c CROSS JOIN actions a
          WHERE b.phone_index IN :nums AND c.borrower_id = b.id AND a.case_id = c.id
            AND {planned} AND a.target_type <> 'contact'
          UNION ALL
          SELECT ct.phone_index FROM contacts ct
          CROSS JOIN cases c CROSS JOIN actions a
          WHERE ct.phone_index IN :nums AND c.borrower_id = ct.borrower_id
            AND a.case_id = c.id AND a.target_type = 'contact' AND a.target_id = ct.id
            AND {planned}
        ) x WHERE num IS NOT NULL GROUP BY num"""


def _statement(stmt: str) -> TextClause:
    """A text statement with its date parameter typed and its lists (`:ids`, `:nums`)
    expanded."""
    clause = dated(stmt, *[n for n in ("d",) if f":{n}" in stmt])
    for name in ("ids", "nums"):
        if f":{name}" in stmt:
            clause = clause.bindparams(bindparam(name, expanding=True))
    return clause


def _texts(conn: Connection) -> dict[tuple[str, str], str]:
    """Approved template bodies (latest version) by (name, channel); built-in call scripts."""
    texts = {(name, "call"): body for name, body in SCRIPTS.items()}
    if "comm_templates" in metadata.tables:
        rows = conn.execute(
            text(
                "SELECT name, channel, body FROM comm_templates WHERE status = 'approved' "
                "ORDER BY version"
            )
        ).all()
        for name, channel, body in rows:
            texts[(name, channel)] = body
    return texts


def parse_windows(spec: str | None) -> tuple[Window, ...]:
    windows = []
    for part in (spec or "").replace(" ", "").split(","):
        if not part:
            continue
        start, _, end = part.partition("-")
        windows.append(Window(time.fromisoformat(start), time.fromisoformat(end)))
    return tuple(windows)


def parse_preferences(
    agreed: str | None, inconvenient: str | None, refused: str | None
) -> Preferences:
    return Preferences(
        agreed=parse_windows(agreed),
        inconvenient=parse_windows(inconvenient),
        refused_channels=frozenset(Channel(c) for c in (refused or "").split() if c),
    )


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _candidate(row: Any, k: _Counters, d: date | None = None) -> tuple[Candidate, History]:
    m = row._mapping
    channel = Channel(m["channel"])
    audience = Audience(m["target_type"])
    content = k.texts.get((m["template"], m["channel"]))
    candidate = Candidate(
        case_id=m["case_id"],
        borrower_id=m["borrower_id"],
        business_date=d or _as_date(m["business_date"]),
        channel=channel,
        audience=audience,
        target_id=m["target_id"],
        template=m["template"],
        timezone=m["timezone"],
        action_id=m["id"],
        step=m["step"],
        agent_initiated=str(m["step"]).startswith("agent_"),
        borrower_phone_status=m["phone_status"],
        unreachable_on=_as_date(m["unreachable_on"]) if m["unreachable_on"] else None,
        contact_consent=bool(m["contact_consent"]),
        contact_status=m["contact_status"] or "active",
        content=content,
    )
    number = m["number_index"]
    history = History(
        connected_calls_today=k.connected_today[m["borrower_id"]],
        attempts_today_on_number=k.attempts_today[number] if number else 0,
        attempt_days_on_debt=tuple(k.attempt_days.get(m["case_id"], ())),
        last_conversation_on=k.last_conversation.get(m["case_id"]),
        third_party_communications=k.third_party[m["target_id"]]
        if audience is Audience.CONTACT
        else 0,
        flags=tuple(k.flags.get(m["borrower_id"], ())),
        opted_out=frozenset(k.opted_out.get(number, ())) if number else frozenset(),
        preferences=k.preferences.get(m["borrower_id"], Preferences()),
        holidays=k.holidays,
    )
    return candidate, history


def _count(k: _Counters, c: Candidate, number: str | None, decision: Decision) -> None:
    """A call allowed today is an attempt about to be made: later candidates see it."""
    if decision.verdict is not Verdict.ALLOW or c.channel is not Channel.CALL:
        return
    if number:
        k.attempts_today[number] += 1
    if c.audience is Audience.BORROWER:
        k.attempt_days[c.case_id].append(c.business_date)


# --- overrides ---------------------------------------------------------------------------------


def _overrides(conn: Connection, scope: str, params: dict[str, Any]) -> dict[int, set[str]]:
    stmt = (
        "SELECT o.action_id, o.rule_id FROM compliance_overrides o "
        f"WHERE o.action_id IN (SELECT s.id FROM actions s WHERE {scope})"
    )
    used = {n: v for n, v in params.items() if f":{n}" in stmt}
    rows = conn.execute(_statement(stmt), used).all()
    found: dict[int, set[str]] = defaultdict(set)
    for action_id, rule_id in rows:
        found[action_id].add(rule_id)
    return found


def _decide(c: Candidate, h: History, pack: Pack, at: datetime, waived: set[str]) -> Decision:
    if not waived:
        return decide(c, h, pack, at)
    rules = tuple(r for r in pack.rules if not (pack.rule_id(r.name) in waived and r.overridable))
    decision = decide(c, h, replace(pack, rules=rules), at)
    note = f" (overridden: {', '.join(sorted(waived))})"
    return replace(decision, reason=decision.reason + note)


# --- writing decisions -------------------------------------------------------------------------


def _decision_row(
    batch: str, stage: str, action_id: int, d: date, at: datetime, dec: Decision
) -> dict[str, Any]:
    return {
        "batch": batch,
        "action_id": action_id,
        "business_date": d,
        "stage": stage,
        "pack": dec.pack,
        "decided_for": at.astimezone(UTC),
        "verdict": dec.verdict.value,
        "scheduled_at": dec.at.astimezone(UTC) if dec.at else None,
        "rule_id": dec.rule_id,
        "reason": dec.reason,
        "consulted": ",".join(c.rule_id for c in dec.consulted),
        "violations": json.dumps(
            [
                {
                    "rule": v.rule_id,
                    "verdict": v.verdict.value,
                    "until": v.until.astimezone(UTC).isoformat() if v.until else None,
                    "message": v.message,
                }
                for v in dec.violations
            ],
            ensure_ascii=False,
        ),
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


def gate_planned_actions(conn: Connection, business_date: date, rule_pack: str) -> GateReport:
    """Decide every planned, not yet gated action of the business date under the rule pack.

    allow → stays planned with `scheduled_at` (first allowed moment of the day, recipient's
    local time, in UTC); defer → deferred with the next allowed moment; block → blocked with
    rule id and reason. Deferred actions whose moment has come are carried over to the day.
    """
    pack = get_pack(rule_pack)
    carried = _carry_over(conn, business_date)
    sql = Dialect.of(conn)
    scope = (
        f"s.business_date = {sql.date_param('d')} AND s.status = 'planned' "
        "AND s.scheduled_at IS NULL"
    )
    params: dict[str, Any] = {"d": business_date}
    rows = conn.execute(dated(_candidate_sql(sql, scope.replace("s.", "a.")), "d"), params).all()
    if not rows:
        return GateReport(business_date, pack.code, carried_over=carried)
    k = _load_counters(conn, business_date, pack, scope, params, exclude=-1)
    waived = _overrides(conn, scope, params)
    batch = uuid.uuid4().hex
    decisions = []
    tally: Counter[str] = Counter()
    verdicts: Counter[Verdict] = Counter()
    starts: dict[str, datetime] = {}
    for row in rows:
        c, h = _candidate(row, k, business_date)
        at = starts.get(c.timezone)
        if at is None:
            at = starts[c.timezone] = day_start(business_date, c.timezone)
        dec = _decide(c, h, pack, at, waived.get(row.id, set()))
        _count(k, c, row.number_index, dec)
        verdicts[dec.verdict] += 1
        if dec.rule_id:
            tally[f"{dec.verdict} {dec.rule_id}"] += 1
        decisions.append(_decision_row(batch, "plan", row.id, business_date, at, dec))
    insert_rows(conn, gate_decisions, decisions)
    _apply(conn, batch)
    return GateReport(
        business_date,
        pack.code,
        allowed=verdicts[Verdict.ALLOW],
        deferred=verdicts[Verdict.DEFER],
        blocked=verdicts[Verdict.BLOCK],
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
    due = [r for r in rows if local_date(_as_utc(r.scheduled_at), r.timezone) <= d]  # type: ignore[arg-type]
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
                scheduled_at=_as_utc(r.scheduled_at),
                rule_id=r.rule_id,
                reason=f"carried over to {d} as action {new_id}",
                consulted="",
                violations="[]",
            )
        )
    return carried


# --- one action: at send time, or started by an agent --------------------------------------------


def check_action(
    conn: Connection, action_id: int, at: datetime, *, rule_pack: str | None = None
) -> Decision:
    """Judge one action at the moment it is about to happen (dispatcher, agent workbench).

    The counters are read again from the database, so calls made since the nightly batch count.
    The decision is recorded (stage 'send'); the caller acts on it.
    """
    pack = get_pack(rule_pack or _pack_of(conn))
    sql = Dialect.of(conn)
    row = conn.execute(text(_candidate_sql(sql, "a.id = :aid")), {"aid": action_id}).first()
    if row is None:
        raise ActionNotFound(action_id)
    d = _as_date(row.business_date)
    scope = "s.id = :aid"
    params: dict[str, Any] = {"aid": action_id}
    k = _load_counters(conn, d, pack, scope, params, exclude=action_id, by_number=True)
    c, h = _candidate(row, k)
    waived = _overrides(conn, scope, params).get(action_id, set())
    dec = _decide(c, h, pack, at, waived)
    conn.execute(
        insert(gate_decisions), [_decision_row(uuid.uuid4().hex, "send", action_id, d, at, dec)]
    )
    return dec


def check_actions(
    conn: Connection, action_ids: Iterable[int], at: datetime, *, rule_pack: str | None = None
) -> dict[int, Decision]:
    """Judge many actions at one moment (the dispatcher's batch): exactly what `check_action`
    decides for each one by one, in one set of queries per business date of the batch.

    Ids that name no action are left out of the answer. Every decision is recorded (stage
    'send', one insert).
    """
    ids = sorted(set(action_ids))
    if not ids:
        return {}
    pack = get_pack(rule_pack or _pack_of(conn))
    sql = Dialect.of(conn)
    rows = conn.execute(_statement(_candidate_sql(sql, "a.id IN :ids")), {"ids": ids}).all()
    by_day: defaultdict[date, list[Any]] = defaultdict(list)
    for row in rows:
        by_day[_as_date(row.business_date)].append(row)
    decisions: dict[int, Decision] = {}
    recorded: list[dict[str, Any]] = []
    batch = uuid.uuid4().hex
    for d, group in sorted(by_day.items()):
        scope = "s.id IN :ids"
        params: dict[str, Any] = {"ids": [row.id for row in group]}
        k = _load_counters(conn, d, pack, scope, params, exclude=-1, by_number=True)
        waived = _overrides(conn, scope, params)
        for row in group:
            c, h = _candidate(row, k)
            h = _without_itself(row, d, h)
            dec = _decide(c, h, pack, at, waived.get(row.id, set()))
            decisions[row.id] = dec
            recorded.append(_decision_row(batch, "send", row.id, d, at, dec))
    if recorded:
        insert_rows(conn, gate_decisions, recorded)
    return decisions


def _without_itself(row: Any, d: date, h: History) -> History:
    """The batch's counters include every call planned for the day, the judged action too;
    `check_action` leaves the judged action out (`exclude`): take its own attempt back."""
    m = row._mapping
    counted = (
        m["channel"] == Channel.CALL.value
        and m["status"] == "planned"
        and m["scheduled_at"] is not None
        and _as_date(m["business_date"]) == d
    )
    if not counted:
        return h
    attempts = h.attempts_today_on_number
    if m["number_index"]:
        attempts -= 1
    days = h.attempt_days_on_debt
    if m["target_type"] == Audience.BORROWER.value and d in days:
        at = days.index(d)
        days = days[:at] + days[at + 1 :]
    return replace(h, attempts_today_on_number=attempts, attempt_days_on_debt=days)


def request_outreach(
    conn: Connection,
    *,
    case_id: int,
    target_type: str,
    target_id: str,
    channel: str,
    template: str,
    at: datetime,
    business_date: date,
    agent: str,
    rule_pack: str | None = None,
) -> tuple[int, Decision]:
    """An agent wants to call or message now: the action is recorded and passes the same gate."""
    action_id = conn.execute(
        insert(t.actions)
        .values(
            case_id=case_id,
            business_date=business_date,
            step=f"agent_{agent}_{at.astimezone(UTC):%H%M%S%f}"[:64],
            target_type=Audience(target_type).value,
            target_id=target_id,
            channel=Channel(channel).value,
            template=template,
            status="planned",
            priority=5,
        )
        .returning(t.actions.c.id)
    ).scalar_one()
    dec = check_action(conn, action_id, at, rule_pack=rule_pack)
    conn.execute(
        t.actions.update()
        .where(t.actions.c.id == action_id)
        .values(
            status=_STATUS[dec.verdict],
            scheduled_at=dec.at.astimezone(UTC) if dec.at else None,
            rule_id=dec.rule_id,
            reason=None if dec.verdict is Verdict.ALLOW else dec.reason,
        )
    )
    return action_id, dec


def _pack_of(conn: Connection) -> str:
    value = conn.execute(
        select(compliance_settings.c.value).where(compliance_settings.c.key == "rule_pack")
    ).scalar()
    return value or "cn"


def override_action(
    conn: Connection,
    action_id: int,
    *,
    rule_id: str,
    reason: str,
    by: str,
    at: datetime,
    keyring: KeyRing,
    rule_pack: str | None = None,
) -> Decision:
    """A compliance officer lets one action past one rule, with a reason; audited.

    Legal absolutes (a refusal, an opt-out, cease, bankruptcy, deceased, breathing space, an
    attorney) cannot be overridden. The action is judged again without the rule.
    """
    pack = get_pack(rule_pack or _pack_of(conn))
    rule = pack.rule(rule_id)
    if not rule.overridable:
        raise OverrideRefused(f"{rule_id} is a legal absolute and cannot be overridden")
    if len(reason.strip()) < 10:
        raise OverrideRefused("an override needs a reason a reviewer can follow (10+ characters)")
    conn.execute(
        insert(compliance_overrides).values(
            action_id=action_id, rule_id=rule_id, reason=reason, by=by, at=at
        )
    )
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.OVERRIDE,
        subject=f"action:{action_id}",
        detail={"rule": rule_id, "reason": reason},
        at=at,
    )
    dec = check_action(conn, action_id, at, rule_pack=pack.code)
    conn.execute(
        t.actions.update()
        .where(
            t.actions.c.id == action_id, t.actions.c.status.in_(["planned", "deferred", "blocked"])
        )
        .values(
            status=_STATUS[dec.verdict],
            scheduled_at=dec.at.astimezone(UTC) if dec.at else None,
            rule_id=dec.rule_id,
            reason=None if dec.verdict is Verdict.ALLOW else dec.reason,
        )
    )
    return dec


# --- explain and report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    action: dict[str, Any]
    decisions: list[dict[str, Any]]  # oldest first, each with every rule consulted


def explain(conn: Connection, action_id: int) -> Explanation:
    action = conn.execute(select(t.actions).where(t.actions.c.id == action_id)).first()
    if action is None:
        raise ActionNotFound(action_id)
    out = []
    for g in conn.execute(
        select(gate_decisions)
        .where(gate_decisions.c.action_id == action_id)
        .order_by(gate_decisions.c.id)
    ):
        objections = {v["rule"]: v for v in json.loads(g.violations)}
        rules = [
            {
                "rule": rid,
                "verdict": objections.get(rid, {}).get("verdict", "allow"),
                "until": objections.get(rid, {}).get("until"),
                "message": objections.get(rid, {}).get("message", "no objection"),
            }
            for rid in g.consulted.split(",")
            if rid
        ]
        out.append(
            {
                "stage": g.stage,
                "pack": g.pack,
                "judged_at": _iso(g.decided_for),
                "verdict": g.verdict,
                "scheduled_at": _iso(g.scheduled_at),
                "rule_id": g.rule_id,
                "reason": g.reason,
                "rules": rules,
            }
        )
    a = action._mapping
    return Explanation(
        {
            "id": a["id"],
            "case_id": a["case_id"],
            "business_date": _as_date(a["business_date"]).isoformat(),
            "step": a["step"],
            "target": f"{a['target_type']} {a['target_id']}",
            "channel": a["channel"],
            "template": a["template"],
            "status": a["status"],
        },
        out,
    )


def _iso(value: Any) -> str | None:
    moment = _as_utc(value)
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class ReportLine:
    verdict: str
    rule_id: str
    count: int


def report(conn: Connection, start: date, end: date) -> list[ReportLine]:
    """Planning decisions from start to end counted by verdict and by the deciding rule."""
    g = gate_decisions
    sql = Dialect.of(conn)
    rows = conn.execute(
        dated(
            f"""SELECT verdict, COALESCE(rule_id, '-') AS rule_id, COUNT(*) FROM gate_decisions
                WHERE stage = 'plan' AND business_date BETWEEN {sql.date_param("a")}
                  AND {sql.date_param("b")}
                GROUP BY verdict, COALESCE(rule_id, '-')
                ORDER BY verdict, COUNT(*) DESC""",
            "a",
            "b",
        ),
        {"a": start, "b": end},
    ).all()
    del g
    return [ReportLine(v, r, n) for v, r, n in rows]


__all__ = [
    "ActionNotFound",
    "Consulted",
    "GateReport",
    "OverrideRefused",
    "Violation",
    "check_action",
    "check_actions",
    "explain",
    "gate_planned_actions",
    "override_action",
    "report",
    "request_outreach",
]


# --- flags, preferences, holidays, the rule-pack setting ---------------------------------------

BREATHING_SPACE_DAYS = 60


def seed_demo_events(
    conn: Connection, keyring: KeyRing, borrower_ids: Sequence[str], start: date, seed: int
) -> int:
    """What a real portfolio brings the compliance officer, for the demo: a few borrowers dispute
    the debt, ask us to cease, enter a breathing space, or reply TD to stop SMS."""
    import random

    rng = random.Random(seed)
    at = datetime.combine(start, time(1), tzinfo=UTC)
    events = 0
    for bid in borrower_ids:
        roll = rng.random()
        when = start + timedelta(days=rng.randint(3, 30))
        if roll < 0.01:
            set_flag(conn, keyring, borrower_id=bid, flag="dispute", since=when, by="demo", at=at)
        elif roll < 0.015:
            set_flag(conn, keyring, borrower_id=bid, flag="cease", since=when, by="demo", at=at)
        elif roll < 0.02:
            set_flag(
                conn,
                keyring,
                borrower_id=bid,
                flag="breathing_space",
                since=when,
                by="demo",
                at=at,
            )
        elif roll < 0.05 and "comm_suppressions" in metadata.tables:
            number = conn.execute(
                select(t.borrowers.c.phone_index).where(t.borrowers.c.id == bid)
            ).scalar()
            if number:
                conn.execute(
                    insert(metadata.tables["comm_suppressions"]).values(
                        channel="sms", address_index=number, reason="opt_out", created_at=at
                    )
                )
        else:
            continue
        events += 1
    return events


def set_flag(
    conn: Connection,
    keyring: KeyRing,
    *,
    borrower_id: str,
    flag: str,
    since: date,
    by: str,
    at: datetime,
    until: date | None = None,
    note: str | None = None,
) -> int:
    """Flag a borrower (cease, dispute, …); a breathing space lasts 60 days unless told. Audited."""
    kind = parse_flag(flag)
    if kind is Flag.BREATHING_SPACE and until is None:
        until = since + timedelta(days=BREATHING_SPACE_DAYS - 1)
    flag_id = conn.execute(
        insert(borrower_flags)
        .values(
            borrower_id=borrower_id,
            flag=kind.value,
            since=since,
            until=until,
            note=note,
            set_by=by,
            set_at=at,
        )
        .returning(borrower_flags.c.id)
    ).scalar_one()
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.FLAG,
        subject=f"borrower:{borrower_id}",
        detail={
            "flag": kind.value,
            "since": since.isoformat(),
            "until": until.isoformat() if until else None,
            "action": "set",
        },
        at=at,
    )
    return int(flag_id)


def lift_flag(
    conn: Connection,
    keyring: KeyRing,
    *,
    borrower_id: str,
    flag: str,
    on: date,
    by: str,
    at: datetime,
) -> int:
    kind = parse_flag(flag)
    lifted = (
        conn.execute(
            borrower_flags.update()
            .where(
                borrower_flags.c.borrower_id == borrower_id,
                borrower_flags.c.flag == kind.value,
                borrower_flags.c.lifted_on.is_(None),
            )
            .values(lifted_on=on)
        ).rowcount
        or 0
    )
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.FLAG,
        subject=f"borrower:{borrower_id}",
        detail={"flag": kind.value, "action": "lift", "on": on.isoformat()},
        at=at,
    )
    return lifted


def set_preferences(
    conn: Connection,
    *,
    borrower_id: str,
    on: date,
    by: str,
    agreed_hours: str = "",
    inconvenient_hours: str = "",
    refused_channels: str = "",
) -> Preferences:
    """Record what the borrower told us ("07:30-08:00", "12:00-14:00", "call")."""
    prefs = parse_preferences(agreed_hours, inconvenient_hours, refused_channels)
    values = {
        "agreed_hours": agreed_hours,
        "inconvenient_hours": inconvenient_hours,
        "refused_channels": refused_channels,
        "updated_on": on,
        "updated_by": by,
    }
    done = conn.execute(
        contact_preferences.update()
        .where(contact_preferences.c.borrower_id == borrower_id)
        .values(**values)
    ).rowcount
    if not done:
        conn.execute(insert(contact_preferences).values(borrower_id=borrower_id, **values))
    return prefs


def add_holiday(conn: Connection, *, pack: str, day: date, name: str) -> None:
    get_pack(pack)
    exists = conn.execute(
        select(compliance_holidays.c.day).where(
            compliance_holidays.c.pack == pack, compliance_holidays.c.day == day
        )
    ).first()
    if exists is None:
        conn.execute(insert(compliance_holidays).values(pack=pack, day=day, name=name))


def set_rule_pack(
    conn: Connection, keyring: KeyRing, *, pack: str, by: str, reason: str, at: datetime
) -> str:
    """Change the portfolio's rule pack; the change is audited."""
    new = get_pack(pack).code
    old = _pack_of(conn)
    done = conn.execute(
        compliance_settings.update()
        .where(compliance_settings.c.key == "rule_pack")
        .values(value=new, changed_by=by, changed_at=at)
    ).rowcount
    if not done:
        conn.execute(
            insert(compliance_settings).values(
                key="rule_pack", value=new, changed_by=by, changed_at=at
            )
        )
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.RULE_PACK,
        subject="rule_pack",
        detail={"from": old, "to": new, "reason": reason},
        at=at,
    )
    return new
