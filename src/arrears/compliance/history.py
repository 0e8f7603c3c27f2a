"""Candidates and their history, read set-based for the gate: the counters of the borrowers,
numbers and debts in scope (per borrower, per phone number, per debt, over the whole history),
and the overrides (`compliance/recording.py` records the decisions)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam

from arrears.compliance.rules.gate import decide
from arrears.compliance.rules.model import (
    Audience,
    Candidate,
    Channel,
    Decision,
    Flag,
    FlagState,
    History,
    Preferences,
    VerdictKind,
    Window,
)
from arrears.compliance.rules.pack import Pack
from arrears.compliance.rules.validation import NOTICE_TEMPLATE
from arrears.compliance.templates import approved_templates
from arrears.domain.outcomes import CONNECTED
from arrears.store.schema import metadata
from arrears.store.sql import Dialect, dated

CONTACT_OUTCOMES = ("contact_reached", "contact_refused", "message_left")
STATUS = {VerdictKind.ALLOW: "planned", VerdictKind.DEFER: "deferred", VerdictKind.BLOCK: "blocked"}


class ActionNotFound(LookupError):
    def __init__(self, action_id: int) -> None:
        super().__init__(f"no action {action_id}; list the day's actions with `arrears actions`")


# --- loading: candidates and their history, set-based -----------------------------------------

# the number an action of `a` dials or texts: its contact's, else the borrower's (on `b`: the
# borrowers, or a staged row, which carries its borrower's)
_NUMBER = "CASE WHEN {a}.target_type = 'contact' THEN ct.phone_index ELSE {b}.phone_index END"
# the contact an action is for, else NULL: a key that finds no row, so that only the actions for
# a contact are looked up (`kinds.gather` looks each one up by its key)
_CONTACT_ID = "CASE WHEN a.target_type = 'contact' THEN a.target_id END"


def candidate_sql(sql: Dialect, where: str, staged: str | None = None) -> str:
    """The candidates of `where` over the actions (`a`), each joined to its case, borrower and
    contact, in the night's order; with `staged` (the night's staging table,
    `store/staged_actions.py`), its rows too, which carry their case's and borrower's columns
    already (only a contact is looked up), unordered: `kinds.gather` numbers them in order."""
    own = (
        "a.id, a.case_id, a.step, a.target_type, a.target_id, a.channel, a.template, "
        "a.business_date, a.status, a.scheduled_at, a.priority"
    )
    contact = f"LEFT JOIN contacts ct ON ct.id = {_CONTACT_ID}"
    query = f"""
        SELECT {own}, c.borrower_id, c.unreachable_on, b.timezone, b.phone_status,
               b.jurisdiction, b.language, ct.consent AS contact_consent,
               ct.status AS contact_status, {_NUMBER.format(a="a", b="b")} AS number_index
        FROM actions a
        JOIN cases c ON c.id = a.case_id
        JOIN borrowers b ON b.id = c.borrower_id
        {contact}
        WHERE {where}"""
    if staged is None:
        return query + "\n        ORDER BY a.priority, a.id"
    return f"""{query}
        UNION ALL
        SELECT {own}, a.borrower_id, a.unreachable_on, a.timezone, a.phone_status,
               a.jurisdiction, a.language, ct.consent, ct.status, {_NUMBER.format(a="a", b="a")}
        FROM {staged} a
        {contact}
        WHERE {where}"""


@dataclass
class Counters:
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
    notice_pending: bool = False  # the pack asks for a validation notice first
    notice_sent: dict[int, date] = field(default_factory=dict)  # case -> validation notice sent


def in_list(values: Iterable[object]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def connected_sql() -> str:
    return in_list(sorted(CONNECTED))


def load_counters(
    conn: Connection,
    d: date,
    pack: Pack,
    scope: str,
    params: dict[str, Any],
    exclude: int,
    *,
    by_number: bool = False,
    source: str = "actions",
) -> Counters:
    """Counters of the borrowers, numbers and debts in scope (`scope`: SQL over `source` `s`,
    the actions or the actions with the night's staged ones).

    `by_number`: count today's calls per number by index look-ups from the numbers in scope
    (the send-time check of a few actions) rather than over the whole day (the nightly batch).
    """
    sql = Dialect.of(conn)
    dp = sql.date_param("d")
    k = Counters()
    p = {**params, "d": d, "exclude": exclude}
    cases_in = f"SELECT s.case_id FROM {source} s WHERE {scope}"
    borrowers_in = (
        f"SELECT sc.borrower_id FROM {source} s JOIN cases sc ON sc.id = s.case_id WHERE {scope}"
    )

    def run(stmt: str, **extra: Any) -> Sequence[Any]:
        used = {n: v for n, v in {**p, **extra}.items() if f":{n}" in stmt}
        return conn.execute(statement(stmt), used).all()

    for borrower_id, n in run(
        f"""SELECT c.borrower_id, COUNT(*) FROM interactions i JOIN cases c ON c.id = i.case_id
            WHERE i.business_date = {dp} AND i.channel = 'call' AND i.target_type = 'borrower'
              AND i.outcome IN {connected_sql()} AND c.borrower_id IN ({borrowers_in})
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
                    f"""SELECT {_NUMBER.format(a="s", b="b")} FROM {source} s
                        JOIN cases c ON c.id = s.case_id JOIN borrowers b ON b.id = c.borrower_id
                        LEFT JOIN contacts ct ON s.target_type = 'contact' AND ct.id = s.target_id
                        WHERE {scope}"""
                )
                if num
            }
        )
    for number, n in (
        (run(attempts_by_number_sql(dp), nums=numbers) if numbers else ())
        if by_number
        else run(
            f"""SELECT num, COUNT(*) FROM (
              SELECT {_NUMBER.format(a="i", b="b")} AS num
              FROM interactions i JOIN cases c ON c.id = i.case_id
              JOIN borrowers b ON b.id = c.borrower_id
              LEFT JOIN contacts ct ON i.target_type = 'contact' AND ct.id = i.target_id
              WHERE i.business_date = {dp} AND i.channel = 'call'
              UNION ALL
              SELECT {_NUMBER.format(a="a", b="b")} AS num
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
            k.attempt_days[case_id] += [as_date(day)] * n
    if pack.quiet_days_after_conversation is not None:
        for case_id, day in run(
            f"""SELECT i.case_id, MAX(i.business_date) FROM interactions i
                WHERE i.channel = 'call' AND i.target_type = 'borrower'
                  AND i.outcome IN {connected_sql()} AND i.case_id IN ({cases_in})
                GROUP BY i.case_id"""
        ):
            k.last_conversation[case_id] = as_date(day)
    if pack.third_party_once:
        for contact_id, n in run(
            f"""SELECT i.target_id, COUNT(*) FROM interactions i
                WHERE i.target_type = 'contact' AND i.outcome IN {in_list(CONTACT_OUTCOMES)}
                  AND i.target_id IN (SELECT s.target_id FROM {source} s WHERE {scope}
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
            FlagState(Flag(flag), as_date(since), as_date(until) if until else None)
        )
    if "comm_suppressions" in metadata.tables:
        for channel, number in run(
            f"""SELECT sp.channel, sp.address_index FROM comm_suppressions sp
                WHERE sp.address_index IN (
                  SELECT {_NUMBER.format(a="s", b="b")} FROM {source} s
                  JOIN cases c ON c.id = s.case_id
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
        as_date(day)
        for (day,) in run(
            f"SELECT day FROM compliance_holidays WHERE pack = :pack AND day >= {dp}",
            pack=pack.code,
        )
    )
    k.texts = texts_of(conn)
    if pack.validation_notice:
        k.notice_pending = True
        for case_id, day in run(
            f"""SELECT a.case_id, MIN(a.business_date) FROM actions a
                WHERE a.template = '{NOTICE_TEMPLATE}' AND a.status IN {in_list(NOTICE_SENT)}
                  AND a.case_id IN ({cases_in})
                GROUP BY a.case_id"""
        ):
            k.notice_sent[case_id] = as_date(day)
    return k


NOTICE_SENT = ("sent", "delivered", "done")  # the notice is out


def attempts_by_number_sql(dp: str) -> str:
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


def statement(stmt: str) -> TextClause:
    """A text statement with its date parameter typed and its lists (`:ids`, `:nums`)
    expanded."""
    clause = dated(stmt, *[n for n in ("d",) if f":{n}" in stmt])
    for name in ("ids", "nums"):
        if f":{name}" in stmt:
            clause = clause.bindparams(bindparam(name, expanding=True))
    return clause


def texts_of(conn: Connection) -> dict[tuple[str, str], str]:
    """What the gate reviews per (template, channel): the version in use of every language —
    the packaged template unless a newer one is approved — joined. The same templates the
    dispatcher renders and the agent's call script shows (`arrears.compliance.scripts`)."""
    bodies: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for (name, channel, _language), spec in sorted(approved_templates(conn).items()):
        bodies[(name, channel)].append(spec.body)
    return {key: "\n".join(parts) for key, parts in bodies.items()}


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


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_CHANNELS = {c.value: c for c in Channel}
_AUDIENCES = {a.value: a for a in Audience}
_NO_PREFERENCES = Preferences()
_NO_CHANNELS: frozenset[Channel] = frozenset()


def candidate_of(row: Any, k: Counters, d: date | None = None) -> tuple[Candidate, History]:
    """The candidate and its history of one row of `candidate_sql`. The nightly gate makes
    one per action (hundreds of thousands on a first day): enums and empty values are looked
    up, not made, and the counters read with `get` (a `Counter`'s missing key is a call)."""
    m = row._mapping
    channel = _CHANNELS.get(m["channel"]) or Channel(m["channel"])
    audience = _AUDIENCES.get(m["target_type"]) or Audience(m["target_type"])
    case_id, borrower_id, target_id = m["case_id"], m["borrower_id"], m["target_id"]
    unreachable_on = m["unreachable_on"]
    candidate = Candidate(
        case_id=case_id,
        borrower_id=borrower_id,
        business_date=d or as_date(m["business_date"]),
        channel=channel,
        audience=audience,
        target_id=target_id,
        template=m["template"],
        timezone=m["timezone"],
        action_id=m["id"],
        step=m["step"],
        agent_initiated=str(m["step"]).startswith("agent_"),
        borrower_phone_status=m["phone_status"],
        unreachable_on=as_date(unreachable_on) if unreachable_on else None,
        contact_consent=bool(m["contact_consent"]),
        contact_status=m["contact_status"] or "active",
        content=k.texts.get((m["template"], m["channel"])),
    )
    number = m["number_index"]
    opted_out = k.opted_out.get(number) if number else None
    history = History(
        connected_calls_today=k.connected_today.get(borrower_id, 0),
        attempts_today_on_number=k.attempts_today.get(number, 0) if number else 0,
        attempt_days_on_debt=tuple(k.attempt_days.get(case_id, ())),
        last_conversation_on=k.last_conversation.get(case_id),
        third_party_communications=k.third_party.get(target_id, 0)
        if audience is Audience.CONTACT
        else 0,
        flags=tuple(k.flags.get(borrower_id, ())),
        opted_out=frozenset(opted_out) if opted_out else _NO_CHANNELS,
        preferences=k.preferences.get(borrower_id, _NO_PREFERENCES),
        holidays=k.holidays,
        validation_notice_pending=k.notice_pending and case_id not in k.notice_sent,
    )
    return candidate, history


def kind_key(row: Any, k: Counters, d: date) -> tuple[Any, ...]:
    """Everything `candidate_of` reads of a row and its counters but the identities no rule
    reads (case, borrower, action; a borrower's id as target): two rows of equal keys make
    candidates equal but for those ids, with equal histories, so they are decided alike. The
    nightly gate looks its kinds up by this key and makes a candidate only for a new one."""
    m = row._mapping
    case_id, borrower_id, target_id = m["case_id"], m["borrower_id"], m["target_id"]
    contact = m["target_type"] == Audience.CONTACT
    number = m["number_index"]
    return (
        m["channel"],
        m["target_type"],
        target_id if contact else None,
        m["template"],
        m["timezone"],
        m["step"],
        m["phone_status"],
        m["unreachable_on"],
        bool(m["contact_consent"]),
        m["contact_status"],
        k.connected_today.get(borrower_id, 0),
        k.attempts_today.get(number, 0) if number else 0,
        tuple(k.attempt_days.get(case_id, ())),
        k.last_conversation.get(case_id),
        k.third_party.get(target_id, 0) if contact else 0,
        tuple(k.flags.get(borrower_id, ())),
        frozenset(k.opted_out.get(number, ())) if number else None,
        k.preferences.get(borrower_id),
        k.notice_pending and case_id not in k.notice_sent,
        d,
    )


def count_allowed(k: Counters, row: Any, d: date, decision: Decision) -> None:
    """A call allowed today is an attempt about to be made: later candidates see it."""
    m = row._mapping
    if decision.verdict is not VerdictKind.ALLOW or m["channel"] != Channel.CALL:
        return
    if m["number_index"]:
        k.attempts_today[m["number_index"]] += 1
    if m["target_type"] == Audience.BORROWER:
        k.attempt_days[m["case_id"]].append(d)


# --- overrides ---------------------------------------------------------------------------------


def overrides_of(
    conn: Connection, scope: str, params: dict[str, Any], source: str = "actions"
) -> dict[int, set[str]]:
    stmt = (
        "SELECT o.action_id, o.rule_id FROM compliance_overrides o "
        f"WHERE o.action_id IN (SELECT s.id FROM {source} s WHERE {scope})"
    )
    used = {n: v for n, v in params.items() if f":{n}" in stmt}
    rows = conn.execute(statement(stmt), used).all()
    found: dict[int, set[str]] = defaultdict(set)
    for action_id, rule_id in rows:
        found[action_id].add(rule_id)
    return found


def decide_waived(c: Candidate, h: History, pack: Pack, at: datetime, waived: set[str]) -> Decision:
    if not waived:
        return decide(c, h, pack, at)
    rules = tuple(r for r in pack.rules if not (pack.rule_id(r.name) in waived and r.overridable))
    decision = decide(c, h, replace(pack, rules=rules), at)
    note = f" (overridden: {', '.join(sorted(waived))})"
    return replace(decision, reason=decision.reason + note)
