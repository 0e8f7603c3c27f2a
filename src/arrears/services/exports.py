"""Exports: cases, actions, interactions, promises, plans, recoveries, agent performance and
agency performance as CSV or XLSX, for the web's download and `arrears export`.

One definition per export: its columns (which of them are personal data), the query that
feeds it (the read models of `services/reports.py`, `services/recoveries.py`, the floor's
agent day and the agency commission — none defined a second time) and the roles that may run
it. Rows are streamed from the database to the file (XLSX through openpyxl's write-only mode),
so a book of millions of rows is written in bounded memory.

- Personal data (name, phone, ID number, address) is decrypted and shown in clear only to a
  role that may export it (`privacy.masking.MAY_EXPORT`); every other role gets the masked
  form its views show.
- A text cell that a spreadsheet would read as a formula (it starts with = + - @, a tab or a
  carriage return) is written with a leading `'`; numbers stay numbers.
- Money is the plain decimal amount (Decimal, never float) beside its currency column; dates
  and times are ISO 8601.
- Every export is recorded in the audit log: who, which export, the filters, the row count
  and whether personal data went out in clear.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import Connection, Engine

from arrears.domain.money import Money
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.privacy.masking import MAY_EXPORT, PersonalField, Role, mask, parse_role
from arrears.services.agencies import list_agencies
from arrears.services.agency_commission import lines, recovered_in
from arrears.services.floor import FloorScope, agent_days
from arrears.services.recoveries import recoveries
from arrears.services.reports import (
    actions_as_of,
    cases_as_of,
    interactions_between,
    plans_between,
    promises_between,
)
from arrears.services.users import Permission, User, get_user, team_queue_names


class ExportKind(StrEnum):
    CASES = "cases"
    ACTIONS = "actions"
    INTERACTIONS = "interactions"
    PROMISES = "promises"
    PLANS = "plans"
    RECOVERIES = "recoveries"
    AGENT_PERFORMANCE = "agent_performance"
    AGENCY_PERFORMANCE = "agency_performance"


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class ExportKindUnknown(ValueError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"no export {kind!r}; use one of {', '.join(ExportKind)}")


class ExportFormatUnknown(ValueError):
    def __init__(self, fmt: str) -> None:
        super().__init__(f"no format {fmt!r}; use csv or xlsx")


class ExportRefused(PermissionError):
    def __init__(self, role: Role, kind: ExportKind) -> None:
        may = ", ".join(k for k in ExportKind if role in DEFINITIONS[k].roles) or "none"
        super().__init__(
            f"the role {role} may not export {kind}; ask a manager (exports the role {role} "
            f"may run: {may})"
        )


class ExportPeriodInvalid(ValueError):
    def __init__(self, start: date, end: date) -> None:
        super().__init__(f"--from {start} is after --as-of {end}; give the earlier date first")


@dataclass(frozen=True)
class Period:
    """The business dates an export covers: `start` to `end` inclusive (one day by default),
    and whose cases: a team lead's team (its queues and agents), or everyone's."""

    start: date
    end: date
    scope: FloorScope = field(default_factory=FloorScope.everyone)

    @property
    def queues(self) -> tuple[str, ...] | None:
        return self.scope.queues


@dataclass(frozen=True)
class Column:
    name: str
    personal: PersonalField | None = None  # decrypted (or masked) before it is written


Rows = Callable[[Connection, Period], Iterator[tuple[Any, ...]]]


@dataclass(frozen=True)
class ExportDef:
    kind: ExportKind
    columns: tuple[Column, ...]
    rows: Rows  # one tuple per row, in column order; personal cells are encrypted blobs
    roles: frozenset[Role]
    period: bool  # True: rows of a period (--from … --as-of); False: the state on --as-of

    @property
    def personal(self) -> bool:
        return any(c.personal for c in self.columns)


def _cols(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n) for n in names)


def _money(minor: Any, currency: str) -> Decimal | None:
    return None if minor is None else Money.from_minor(int(minor), currency).amount


def _case_rows(conn: Connection, period: Period) -> Iterator[tuple[Any, ...]]:
    for c in cases_as_of(conn, period.end, personal=True, queues=period.queues):
        yield (
            c["case_id"],
            c["borrower_id"],
            c["name_enc"],
            c["phone_enc"],
            c["id_number_enc"],
            c["address_enc"],
            ";".join(c["account_ids"]),
            c["status"],
            c["dpd"],
            c["bucket"],
            Decimal(c["overdue_amount"]),
            c["currency"],
            c["opened_on"],
            c["closed_on"],
            c["variant"],
            c["hardship"],
        )


def _action_rows(conn: Connection, period: Period) -> Iterator[tuple[Any, ...]]:
    for a in actions_as_of(conn, period.end, queues=period.queues):
        yield tuple(a[name] for name in _ACTION_COLUMNS)


_ACTION_COLUMNS = (
    "action_id",
    "case_id",
    "step",
    "target_type",
    "target_id",
    "channel",
    "template",
    "status",
    "rule_id",
    "reason",
    "scheduled_at",
)


def _interaction_rows(conn: Connection, period: Period) -> Iterator[tuple[Any, ...]]:
    # the note is free text an agent typed (it may name a person): it stays out of exports
    for i in interactions_between(conn, period.start, period.end, queues=period.queues):
        yield (
            i.id,
            i.case_id,
            i.action_id,
            i.business_date,
            i.occurred_at,
            i.channel,
            i.target_type,
            i.target_id,
            i.outcome,
            i.hardship,
            i.agent,
        )


def _promise_rows(conn: Connection, period: Period) -> Iterator[tuple[Any, ...]]:
    for p in promises_between(conn, period.start, period.end, queues=period.queues):
        yield (
            p.id,
            p.case_id,
            p.made_on,
            p.due_on,
            _money(p.amount, p.currency),
            _money(p.paid_amount, p.currency),
            p.currency,
            p.status,
            p.settled_on,
            p.made_by,
        )


def _plan_rows(conn: Connection, period: Period) -> Iterator[tuple[Any, ...]]:
    for p in plans_between(conn, period.start, period.end, queues=period.queues):
        yield (
            p.id,
            p.case_id,
            p.status,
            p.proposed_on,
            p.activated_on,
            p.ended_on,
            _money(p.total, p.currency),
            _money(p.waived, p.currency),
            p.currency,
            p.instalments,
            p.first_due_on,
            p.proposed_by,
            p.approved_by,
            p.decided_by,
        )


def _recovery_rows(conn: Connection, period: Period) -> Iterator[tuple[Any, ...]]:
    for r in recoveries(conn, period.start, period.end):  # one row per account: small
        c = r.currency
        yield (
            r.account_id,
            c,
            r.charged_off_on,
            _money(r.charged_off, c),
            r.payments,
            _money(r.recovered, c),
            _money(r.applied, c),
        )


def _agent_rows(conn: Connection, period: Period) -> Iterator[tuple[Any, ...]]:
    """Per agent and day, the floor's own figures (`services/floor.agent_days`). An agent who
    took promises in several currencies has one row per currency; the activity counts are on
    the first of them (zero on the others), so a column's sum is the agent's total."""
    day = period.start
    while day <= period.end:
        end_of_day = datetime.combine(day + timedelta(days=1), time(), UTC)
        for a in agent_days(conn, period.scope, day, end_of_day):
            promised: list[tuple[str | None, int | None]] = [*sorted(a.promised.items())]
            promised = promised or [(None, None)]
            for n, (currency, minor) in enumerate(promised):
                counts = (
                    (a.calls, a.rpc, a.promises, a.plans, a.on_call_seconds)
                    if n == 0
                    else (0, 0, 0, 0, 0)
                )
                amount = None if currency is None else _money(minor, currency)
                yield (day, a.username, a.role, *counts, amount, currency)
        day += timedelta(days=1)


def _agency_rows(conn: Connection, period: Period) -> Iterator[tuple[Any, ...]]:
    tiers = {ag.id: ag.tiers for ag in list_agencies(conn)}
    for line in lines(recovered_in(conn, period.start, period.end), tiers):
        c = line.currency
        yield (
            line.agency_id,
            c,
            line.tier.from_days,
            line.tier.rate,
            line.payments,
            _money(line.recovered, c),
            _money(line.commission, c),
        )


_FLOOR = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.COMPLIANCE, Role.INTEGRATION})
_PORTFOLIO = frozenset({Role.MANAGER, Role.STRATEGIST, Role.COMPLIANCE, Role.INTEGRATION})

DEFINITIONS: dict[ExportKind, ExportDef] = {
    d.kind: d
    for d in (
        ExportDef(
            ExportKind.CASES,
            (
                Column("case_id"),
                Column("borrower_id"),
                Column("borrower_name", PersonalField.NAME),
                Column("borrower_phone", PersonalField.PHONE),
                Column("borrower_id_number", PersonalField.ID_NUMBER),
                Column("borrower_address", PersonalField.ADDRESS),
                *_cols(
                    "account_ids",
                    "status",
                    "dpd",
                    "bucket",
                    "overdue_amount",
                    "currency",
                    "opened_on",
                    "closed_on",
                    "variant",
                    "hardship",
                ),
            ),
            _case_rows,
            _FLOOR,
            period=False,
        ),
        ExportDef(
            ExportKind.ACTIONS,
            _cols(*_ACTION_COLUMNS),
            _action_rows,
            _FLOOR | {Role.STRATEGIST},
            period=False,
        ),
        ExportDef(
            ExportKind.INTERACTIONS,
            _cols(
                "interaction_id",
                "case_id",
                "action_id",
                "business_date",
                "occurred_at",
                "channel",
                "target_type",
                "target_id",
                "outcome",
                "hardship",
                "agent",
            ),
            _interaction_rows,
            _FLOOR,
            period=True,
        ),
        ExportDef(
            ExportKind.PROMISES,
            _cols(
                "promise_id",
                "case_id",
                "made_on",
                "due_on",
                "amount",
                "paid_amount",
                "currency",
                "status",
                "settled_on",
                "made_by",
            ),
            _promise_rows,
            _FLOOR,
            period=True,
        ),
        ExportDef(
            ExportKind.PLANS,
            _cols(
                "plan_id",
                "case_id",
                "status",
                "proposed_on",
                "activated_on",
                "ended_on",
                "total",
                "waived",
                "currency",
                "instalments",
                "first_due_on",
                "proposed_by",
                "approved_by",
                "decided_by",
            ),
            _plan_rows,
            _FLOOR,
            period=True,
        ),
        ExportDef(
            ExportKind.RECOVERIES,
            _cols(
                "account_id",
                "currency",
                "charged_off_on",
                "charged_off",
                "payments",
                "recovered",
                "applied",
            ),
            _recovery_rows,
            _PORTFOLIO,
            period=True,
        ),
        ExportDef(
            ExportKind.AGENT_PERFORMANCE,
            _cols(
                "business_date",
                "agent",
                "role",
                "calls",
                "right_party_contacts",
                "promises",
                "plans",
                "on_call_seconds",
                "promised_amount",
                "currency",
            ),
            _agent_rows,
            frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.COMPLIANCE}),
            period=True,
        ),
        ExportDef(
            ExportKind.AGENCY_PERFORMANCE,
            _cols(
                "agency_id",
                "currency",
                "tier_from_days",
                "tier_rate",
                "payments",
                "recovered",
                "commission",
            ),
            _agency_rows,
            _PORTFOLIO | {Role.TEAM_LEAD},
            period=True,
        ),
    )
}


def parse_kind(text: str) -> ExportKind:
    try:
        return ExportKind(text.strip().lower().replace("-", "_"))
    except ValueError:
        raise ExportKindUnknown(text) from None


def parse_format(text: str) -> ExportFormat:
    try:
        return ExportFormat(text.strip().lower())
    except ValueError:
        raise ExportFormatUnknown(text) from None


def allowed(role: Role | str) -> list[ExportDef]:
    """The exports a role may run, in their order."""
    role = parse_role(str(role))
    return [d for d in DEFINITIONS.values() if role in d.roles]


def check_allowed(role: Role | str, kind: ExportKind) -> Role:
    role = parse_role(str(role))
    if role not in DEFINITIONS[kind].roles:
        raise ExportRefused(role, kind)
    return role


def sees_personal_data(role: Role) -> bool:
    """Whether personal data goes out in clear in this role's exports (masked otherwise)."""
    return role in MAY_EXPORT


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value as it is written: text that would start a formula gets a leading `'`; numbers
    stay numbers (int, Decimal); dates and times are ISO text; None is an empty cell."""
    if value is None or isinstance(value, bool | int | Decimal):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_START):
        text = "'" + text
    return text


def _personal_cells(
    export: ExportDef, ring: KeyRing, clear: bool
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    fields = [(i, c.personal) for i, c in enumerate(export.columns) if c.personal]

    def shown(row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not fields:
            return row
        out = list(row)
        for i, personal in fields:
            plain = ring.decrypt(row[i]) if row[i] is not None else None
            out[i] = plain if clear else mask(personal, plain)
        return tuple(out)

    return shown


def _write_csv(header: list[str], rows: Iterable[tuple[Any, ...]], out: IO[bytes]) -> int:
    """UTF-8 with a byte-order mark (a spreadsheet then reads Chinese right), CRLF lines."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else v for v in map(cell, row)])
        count += 1
    text.flush()
    text.detach()  # the caller's file stays open
    return count


def _xlsx_cell(value: Any) -> Any:
    value = cell(value)
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _write_xlsx(
    title: str, header: list[str], rows: Iterable[tuple[Any, ...]], out: IO[bytes]
) -> int:
    book = Workbook(write_only=True)  # rows go to disk as they come, not into memory
    sheet = book.create_sheet(title=title[:31])
    sheet.append(header)
    count = 0
    for row in rows:
        sheet.append([_xlsx_cell(v) for v in row])
        count += 1
    book.save(out)
    return count


@dataclass(frozen=True)
class ExportDone:
    kind: ExportKind
    format: ExportFormat
    rows: int
    period: Period
    personal: str  # clear | masked | none
    audit_seq: int

    @property
    def filename(self) -> str:
        span = (
            self.period.end.isoformat()
            if self.period.start == self.period.end
            else f"{self.period.start.isoformat()}_{self.period.end.isoformat()}"
        )
        return f"arrears-{self.kind.value}-{span}.{self.format.value}"


def period_of(
    kind: ExportKind, as_of: date, start: date | None, scope: FloorScope | None = None
) -> Period:
    if start is not None and start > as_of:
        raise ExportPeriodInvalid(start, as_of)
    scope = scope or FloorScope.everyone()
    if not DEFINITIONS[kind].period:
        return Period(as_of, as_of, scope)
    return Period(start or as_of, as_of, scope)


def filename_of(kind: ExportKind, fmt: ExportFormat, period: Period) -> str:
    return ExportDone(kind, fmt, 0, period, "none", 0).filename


def run_export(
    engine: Engine,
    ring: KeyRing,
    *,
    kind: ExportKind | str,
    fmt: ExportFormat | str,
    as_of: date,
    start: date | None = None,
    actor: str,
    role: Role | str,
    out: IO[bytes],
    at: datetime,
    note: dict[str, Any] | None = None,
    scope: FloorScope | None = None,
) -> ExportDone:
    """Write one export to `out` as the role may see it, then record it in the audit log
    (with `note`, e.g. the schedule and recipients of an e-mailed report). `scope` limits the
    cases to a team lead's team (`scope_of`). A refused export writes nothing and records
    nothing."""
    kind, fmt = parse_kind(str(kind)), parse_format(str(fmt))
    role = check_allowed(role, kind)
    period = period_of(kind, as_of, start, scope)
    export = DEFINITIONS[kind]
    clear = sees_personal_data(role)
    shown = _personal_cells(export, ring, clear)
    header = [c.name for c in export.columns]
    with engine.connect() as conn:
        rows = (shown(r) for r in export.rows(conn, period))
        if fmt is ExportFormat.CSV:
            count = _write_csv(header, rows, out)
        else:
            count = _write_xlsx(kind.value, header, rows, out)
    personal = ("clear" if clear else "masked") if export.personal else "none"
    filters = {"as_of": as_of.isoformat()}
    if export.period:
        filters["from"] = period.start.isoformat()
    if period.queues is not None:
        filters["queues"] = ",".join(period.queues)
    with engine.begin() as conn:
        seq = audit.append(
            conn,
            ring,
            actor=actor,
            kind=audit.AuditKind.EXPORT,
            subject=f"export:{kind.value}",
            detail={
                "export": kind.value,
                "format": fmt.value,
                "filters": filters,
                "rows": count,
                "role": role.value,
                "personal_data": personal,
                **(note or {}),
            },
            at=at,
        )
    return ExportDone(kind, fmt, count, period, personal, seq)


class ExportUserInactive(PermissionError):
    def __init__(self, username: str) -> None:
        super().__init__(
            f"user {username!r} is deactivated; export as an active user "
            "(`arrears users list` shows them)"
        )


def user_of(engine: Engine, username: str) -> User:
    """The user an export is run as: their role decides the masking, their team the cases a
    team lead's export holds (an unknown or deactivated user is refused)."""
    with engine.connect() as conn:
        user = get_user(conn, username)
        if not user.active:
            raise ExportUserInactive(username)
        return user


def scope_of(engine: Engine, user: User) -> FloorScope:
    """A team lead exports their team's cases and agents (as their floor shows); a role that
    sees every case, everyone's."""
    if user.can(Permission.SEE_ALL_CASES) or not user.can(Permission.SEE_TEAM_CASES):
        return FloorScope.everyone()
    with engine.connect() as conn:
        return FloorScope(user.team_id, tuple(team_queue_names(conn, user.team_id)))
