"""The dispatcher: sends what the daily run wrote to the outbox, exactly once.

A worker, per batch:
1. **claims** due `pending` rows — `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers
   share the load; SQLite serialises writers — marking them `sending` with its id and a lease,
   re-checks the compliance gate (defer -> back to pending at the allowed time; block ->
   `blocked` with the rule's reason), drops opted-out numbers and closed cases, renders the
   approved template; **commits** — a row is marked before any provider sees it;
2. **sends** each channel's part of the batch (adapters pipeline it: SMPP windowing), under the
   channel's rate limit;
3. **records** the results in one transaction: `sent` + provider ids (+ the action and an
   interaction), transient errors back to `pending` with exponential back-off and jitter,
   permanent errors (or too many attempts) `dead` with the provider's reason.

After a crash the rows a dead worker left in `sending` (lease expired) are never re-sent
blindly: on channels whose provider de-duplicates by message key they go back to `pending`;
elsewhere they become `unknown`, for delivery receipts to reconcile or a person to review
(`arrears dispatch review`).
"""

from __future__ import annotations

import os
import random
import re
import socket
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    String,
    bindparam,
    column,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
    values,
)

from arrears.channels.base import (
    Accepted,
    Channel,
    ChannelError,
    ChannelEvent,
    ChannelSet,
    ChannelUnavailable,
    DeliveryReceipt,
    DeliveryUncertain,
    InboundMessage,
    OutgoingMessage,
    ReceiptState,
)
from arrears.channels.config import CommsConfig
from arrears.channels.sms_text import is_opt_out
from arrears.compliance.port import ALLOW, Verdict, VerdictKind, check_sends
from arrears.compliance.templates import (
    Audience,
    TemplateBook,
    TemplateNotFound,
    TemplateRenderFailed,
    TemplateSpec,
    first_name,
    text_to_html,
)
from arrears.domain.phone import PhoneInvalid, normalise_phone
from arrears.formats import format_day, format_minor
from arrears.observability import logs
from arrears.observability.metrics import record_dispatch
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from arrears.store.bulk import among, insert_rows
from arrears.store.tables_comms import (
    comm_inbound,
    comm_provider_refs,
    comm_receipts,
    comm_sends,
    comm_suppressions,
)

_T = TypeVar("_T")

# --- the compliance gate at send time ---------------------------------------------------------


class SendGate(Protocol):
    """Re-checks actions at the moment of sending; ids it leaves out are allowed."""

    def check(
        self, conn: Connection, action_ids: Sequence[int], at: datetime
    ) -> Mapping[int, Verdict]: ...


class AllowAll:
    """No rule pack at all: for tests of the sending machinery only, never wired by default."""

    def check(
        self, conn: Connection, action_ids: Sequence[int], at: datetime
    ) -> Mapping[int, Verdict]:
        return {}


class RulePackGate:
    """The rule pack's send-time check through the compliance port (recorded; fails closed:
    a pack that cannot load raises `RulePackUnavailable` and nothing of the batch is sent)."""

    def check(
        self, conn: Connection, action_ids: Sequence[int], at: datetime
    ) -> Mapping[int, Verdict]:
        return check_sends(conn, action_ids, at)


def default_gate() -> SendGate:
    """The rule pack's gate; there is no other."""
    return RulePackGate()


# --- configuration and report -----------------------------------------------------------------


@dataclass
class DispatchConfig:
    batch_size: int = 250
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 6
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(hours=2)
    rate_limits: Mapping[str, float] = field(default_factory=dict)  # channel -> messages/s
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    segments: int = 0
    deferred: int = 0
    blocked: int = 0
    retried: int = 0
    dead: int = 0
    uncertain: int = 0
    recovered_unknown: int = 0
    recovered_pending: int = 0
    receipts: int = 0
    inbound: int = 0
    opt_outs: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    block_reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            k: v for k, v in self.__dict__.items() if not isinstance(v, Counter)
        }
        out["by_channel"] = dict(self.by_channel)
        out["block_reasons"] = dict(self.block_reasons)
        return out


def backoff(attempt: int, config: DispatchConfig, rng: random.Random) -> timedelta:
    """Exponential back-off with full jitter: uniform in [base, min(cap, base * 2^attempt)]."""
    ceiling = min(config.backoff_cap, config.backoff_base * (2 ** max(attempt - 1, 0)))
    span = max((ceiling - config.backoff_base).total_seconds(), 0.0)
    return config.backoff_base + timedelta(seconds=rng.uniform(0, span))


class RateLimiter:
    """A token bucket per channel (messages per second); waits rather than drops."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.last = clock()

    def acquire(self, n: int = 1) -> None:
        while True:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= n or (n > self.capacity and self.tokens >= self.capacity):
                self.tokens -= n
                return
            self.sleep((min(n, self.capacity) - self.tokens) / self.rate)


# --- message context -------------------------------------------------------------------------


def _day(day: date | None, language: str) -> str | None:
    return None if day is None else format_day(day, language)


@dataclass
class Claimed:
    outbox_id: int
    action_id: int | None
    channel: str
    template: str
    language: str
    target_type: str
    target_id: str
    attempts: int


@dataclass
class Prepared:
    row: Claimed
    message: OutgoingMessage
    template_version: int
    case_id: int
    business_date: date


_CONTEXT_SQL = """
SELECT o.id AS outbox_id, a.case_id, a.business_date, a.status AS action_status,
       c.status AS case_status, c.currency, c.overdue_amount, c.dpd, c.borrower_id,
       b.name_enc, b.phone_enc, b.phone_index, b.email_enc, b.address_enc,
       ct.name_enc AS contact_name_enc, ct.phone_enc AS contact_phone_enc,
       ct.phone_index AS contact_phone_index, ct.status AS contact_status,
       ct.consent AS contact_consent
FROM outbox o
JOIN actions a ON a.id = o.action_id
JOIN cases c ON c.id = a.case_id
JOIN borrowers b ON b.id = c.borrower_id
LEFT JOIN contacts ct ON o.target_type = 'contact' AND ct.id = o.target_id
WHERE o.id IN :ids
"""

_DUE_SQL = """
SELECT ac.borrower_id, MIN(d.due_on) AS due_on
FROM due_items d JOIN accounts ac ON ac.id = d.account_id
WHERE ac.borrower_id IN :bids
  AND d.principal + d.interest + d.fee + d.penalty - d.paid_principal - d.paid_interest
      - d.paid_fee - d.paid_penalty - d.waived > 0
  AND d.due_on <= :as_of
GROUP BY ac.borrower_id
"""

_PLAN_SQL = """
SELECT p.case_id, pi.due_on, pi.amount - pi.paid_amount AS amount, p.currency
FROM plans p JOIN plan_instalments pi ON pi.plan_id = p.id
WHERE p.status = 'active' AND pi.status IN ('pending', 'missed') AND p.case_id IN :cids
ORDER BY pi.due_on DESC
"""

_PROMISE_SQL = """
SELECT case_id, due_on, amount, currency FROM promises
WHERE case_id IN :cids ORDER BY made_on, id
"""


def _in(sql: str, *names: str) -> Any:
    return text(sql).bindparams(*(bindparam(n, expanding=True) for n in names))


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def email_index(keyring: KeyRing, email: str | None) -> str | None:
    """Blind index of an e-mail address as opt-outs store it (trimmed, lower case)."""
    if not email or not email.strip():
        return None
    return keyring.blind_index(email.strip().lower())


class ContextLoader:
    """Loads everything a batch of messages needs in a few set-based queries; personal data is
    decrypted only for the messages about to be sent."""

    def __init__(self, keyring: KeyRing, comms: CommsConfig, book: TemplateBook) -> None:
        self.keyring, self.comms, self.book = keyring, comms, book

    def facts(self, conn: Connection, rows: Sequence[Claimed]) -> dict[int, dict[str, Any]]:
        """The action, case, borrower and contact behind each row (still encrypted)."""
        ids = [r.outbox_id for r in rows if r.action_id is not None]
        if not ids:
            return {}
        return {
            r.outbox_id: dict(r._mapping)
            for r in conn.execute(_in(_CONTEXT_SQL, "ids"), {"ids": ids})
        }

    def load(
        self,
        conn: Connection,
        rows: Sequence[Claimed],
        facts: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> dict[int, dict[str, Any]]:
        """Template contexts of the rows (their facts are read unless given)."""
        if facts is None:
            facts = self.facts(conn, rows)
        facts = {r.outbox_id: facts[r.outbox_id] for r in rows if r.outbox_id in facts}
        if not facts:
            return {}
        borrower_ids = sorted({f["borrower_id"] for f in facts.values()})
        as_of = max(_as_date(f["business_date"]) or date.min for f in facts.values())
        due = {
            r.borrower_id: _as_date(r.due_on)
            for r in conn.execute(
                _in(_DUE_SQL, "bids").bindparams(
                    bindparam("as_of", type_=t.due_items.c.due_on.type)
                ),
                {"bids": borrower_ids, "as_of": as_of},
            )
        }
        wanted = set()
        for r in rows:
            try:
                wanted |= set(self.book.find(r.template, r.channel, r.language).slots)
            except TemplateNotFound:
                continue
        case_ids = sorted({f["case_id"] for f in facts.values()})
        plans: dict[int, tuple[date | None, int, str]] = {}
        if wanted & {"instalment_amount", "instalment_due"}:
            for p in conn.execute(_in(_PLAN_SQL, "cids"), {"cids": case_ids}):
                plans[p.case_id] = (_as_date(p.due_on), p.amount, p.currency)  # earliest wins
        promises: dict[int, tuple[date | None, int, str]] = {}
        if wanted & {"promise_amount", "promise_due"}:
            for p in conn.execute(_in(_PROMISE_SQL, "cids"), {"cids": case_ids}):
                promises[p.case_id] = (_as_date(p.due_on), p.amount, p.currency)  # latest wins
        by_id = {r.outbox_id: r for r in rows}
        contexts: dict[int, dict[str, Any]] = {}
        for oid, f in facts.items():
            row = by_id[oid]
            lang = row.language
            borrower_name = self.keyring.decrypt(f["name_enc"]) or ""
            ctx: dict[str, Any] = {
                "_facts": f,
                "borrower_first_name": first_name(borrower_name, lang),
                "callback_number": self.comms.callback_number,
            }
            if row.target_type == Audience.CONTACT:
                ctx["contact_name"] = self.keyring.decrypt(f["contact_name_enc"]) or ""
            else:
                ctx.update(
                    borrower_name=borrower_name,
                    overdue_amount=format_minor(f["overdue_amount"], f["currency"], lang),
                    currency=f["currency"],
                    due_date=_day(due.get(f["borrower_id"]), lang),
                    dpd=f["dpd"],
                    lender_name=self.comms.lender(lang),
                    link=self.comms.link(f["case_id"], f["borrower_id"]),
                )
                if f["case_id"] in plans:
                    due_on, amount, cur = plans[f["case_id"]]
                    ctx["instalment_due"] = _day(due_on, lang)
                    ctx["instalment_amount"] = format_minor(amount, cur, lang)
                if f["case_id"] in promises:
                    due_on, amount, cur = promises[f["case_id"]]
                    ctx["promise_due"] = _day(due_on, lang)
                    ctx["promise_amount"] = format_minor(amount, cur, lang)
            contexts[oid] = ctx
        return contexts

    def index(self, row: Claimed, f: Mapping[str, Any]) -> str | None:
        """The blind index opt-outs of the row's channel are kept under (no decrypting for a
        phone number; an e-mail address is read to be indexed)."""
        contact = row.target_type == Audience.CONTACT
        if row.channel in ("sms", "voice"):
            index: str | None = f["contact_phone_index"] if contact else f["phone_index"]
            return index
        if row.channel == "email" and not contact:
            return email_index(self.keyring, self.keyring.decrypt(f["email_enc"]))
        return None

    def address(self, row: Claimed, f: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(address, suppression index) of the target on the row's channel."""
        contact = row.target_type == Audience.CONTACT
        if row.channel in ("sms", "voice"):
            enc = f["contact_phone_enc"] if contact else f["phone_enc"]
            index = f["contact_phone_index"] if contact else f["phone_index"]
            return self.keyring.decrypt(enc), index
        if row.channel == "email" and not contact:
            email = self.keyring.decrypt(f["email_enc"])
            return email, email_index(self.keyring, email)
        if row.channel == "push" and not contact:
            return str(f["borrower_id"]), None
        if row.channel == "letter" and not contact:
            address = self.keyring.decrypt(f["address_enc"])
            return address, None
        return None, None


# --- the loop --------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        keyring: KeyRing,
        channels: ChannelSet | Mapping[str, Channel] | Channel,
        *,
        comms: CommsConfig | None = None,
        gate: SendGate | None = None,
        config: DispatchConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.channels = channels if isinstance(channels, ChannelSet) else ChannelSet(channels)
        self.comms = comms or CommsConfig()
        self.gate = gate if gate is not None else default_gate()
        self.config = config or DispatchConfig()
        self.rng = rng or random.Random()
        self.limiters = {ch: RateLimiter(rate) for ch, rate in self.config.rate_limits.items()}
        self.postgres = engine.dialect.name == "postgresql"

    # -- recovery ------------------------------------------------------------------------

    def recover(self, now: datetime, report: DispatchReport) -> None:
        """Rows left `sending` by a worker whose lease ran out: never re-sent blindly. Rows
        left `claimed` were never handed to a provider: they are simply due again."""
        o = t.outbox
        with self.engine.begin() as conn:
            released = conn.execute(
                update(o)
                .where(o.c.status == "claimed", o.c.lease_until < now)
                .values(
                    status="pending",
                    attempts=o.c.attempts - 1,
                    claimed_by=None,
                    lease_until=None,
                )
            ).rowcount
            stale = conn.execute(
                select(o.c.id, o.c.channel).where(o.c.status == "sending", o.c.lease_until < now)
            ).all()
            resend = [r.id for r in stale if self._resend_safe(r.channel)]
            unknown = [r.id for r in stale if not self._resend_safe(r.channel)]
            if resend:
                conn.execute(
                    update(o)
                    .where(o.c.id.in_(resend), o.c.status == "sending")
                    .values(status="pending", claimed_by=None, lease_until=None)
                )
            if unknown:
                conn.execute(
                    update(o)
                    .where(o.c.id.in_(unknown), o.c.status == "sending")
                    .values(
                        status="unknown",
                        error="worker stopped after handing the message to the provider; "
                        "not re-sent — reconcile from receipts or review",
                    )
                )
        report.recovered_pending += len(resend) + released
        report.recovered_unknown += len(unknown)

    def _resend_safe(self, channel: str) -> bool:
        return self.channels.has(channel) and bool(self.channels.get(channel).resend_safe)

    # -- claim -----------------------------------------------------------------------------

    def _claim(self, conn: Connection, now: datetime, n: int) -> list[Claimed]:
        o = t.outbox
        due = (
            select(o.c.id)
            .where(o.c.status == "pending", or_(o.c.not_before.is_(None), o.c.not_before <= now))
            .order_by(o.c.not_before, o.c.id)
            .limit(n)
        )
        if self.postgres:
            # a materialised CTE: the locked set is chosen once (a sub-select in IN may be
            # re-run per row and claim more than `n`)
            locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            picked: Any = o.c.id == locked.c.id
        else:
            picked = o.c.id.in_(due.scalar_subquery())
        stmt = (
            update(o)
            .where(picked, o.c.status == "pending")
            .values(
                status="claimed",
                claimed_by=self.config.worker_id,
                lease_until=now + self.config.lease,
                attempts=o.c.attempts + 1,
            )
            .returning(
                o.c.id,
                o.c.action_id,
                o.c.channel,
                o.c.template,
                o.c.language,
                o.c.target_type,
                o.c.target_id,
                o.c.attempts,
            )
        )
        rows = [Claimed(*r) for r in conn.execute(stmt)]
        rows.sort(key=lambda r: r.outbox_id)
        return rows

    def _prepare(
        self,
        conn: Connection,
        rows: list[Claimed],
        now: datetime,
        book: TemplateBook,
        report: DispatchReport,
    ) -> list[Prepared]:
        loader = ContextLoader(self.keyring, self.comms, book)
        facts = loader.facts(conn, rows)
        decisions = self.gate.check(
            conn, [r.action_id for r in rows if r.action_id is not None], now
        )
        prepared: list[Prepared] = []
        blocked: list[tuple[Claimed, str, str | None]] = []
        deferred: list[tuple[Claimed, datetime | None]] = []
        dead: list[tuple[Claimed, str]] = []
        # what the database alone decides: the gate, the case, the contact
        passed: list[tuple[Claimed, dict[str, Any]]] = []
        for r in rows:
            f = facts.get(r.outbox_id)
            if f is None:
                dead.append((r, "no action, case or borrower behind this message"))
                continue
            decision = decisions.get(r.action_id, ALLOW) if r.action_id is not None else ALLOW
            if decision.kind is VerdictKind.DEFER:
                deferred.append((r, decision.next_allowed_at))
                continue
            if decision.kind is VerdictKind.BLOCK:
                blocked.append((r, decision.reason or "blocked by the rule pack", decision.rule_id))
                continue
            if f["case_status"] != "open" or f["action_status"] == "cancelled":
                blocked.append((r, f"case is {f['case_status']}; message no longer due", None))
                continue
            if r.target_type == Audience.CONTACT and (
                f["contact_status"] != "active" or not f["contact_consent"]
            ):
                blocked.append((r, f"contact is {f['contact_status']} or without consent", None))
                continue
            passed.append((r, f))
        # opt-outs of what is left, one query (an e-mail address is read to be indexed)
        addresses: dict[int, str | None] = {}
        indexes: dict[int, str | None] = {}
        for r, f in passed:
            if r.channel == "email":
                addresses[r.outbox_id], indexes[r.outbox_id] = loader.address(r, f)
            else:
                indexes[r.outbox_id] = loader.index(r, f)
        suppressed = self._suppressed(conn, {i for i in indexes.values() if i})
        ready: list[tuple[Claimed, dict[str, Any], str]] = []
        for r, f in passed:
            index = indexes[r.outbox_id]
            if index and (r.channel, index) in suppressed:
                blocked.append((r, "opted out on this channel", "opt_out"))
                continue
            if r.outbox_id in addresses:
                address = addresses[r.outbox_id]
            else:
                address = loader.address(r, f)[0]
            if not address:
                dead.append((r, f"no {r.channel} address for the {r.target_type}"))
                continue
            try:
                spec = book.find(r.template, r.channel, r.language)
            except TemplateNotFound as exc:
                dead.append((r, str(exc)))
                continue
            if spec.audience != r.target_type:
                reason = f"template {r.template} is for a {spec.audience}, not a {r.target_type}"
                blocked.append((r, reason, "audience"))
                continue
            ready.append((r, f, address))
        # names, amounts and dates only for the messages about to be sent
        contexts = loader.load(conn, [r for r, _, _ in ready], facts)
        for r, f, address in ready:
            try:
                rendered = book.render(r.template, r.channel, r.language, contexts[r.outbox_id])
            except (TemplateNotFound, TemplateRenderFailed) as exc:
                dead.append((r, str(exc)))
                continue
            html = rendered.html
            if r.channel == "email" and html is None:
                html = text_to_html(rendered.body, lang=r.language)
            message = OutgoingMessage(
                outbox_id=r.outbox_id,
                channel=r.channel,
                to=address,
                language=r.language,
                audience=r.target_type,
                template=r.template,
                body=rendered.body,
                subject=rendered.subject,
                html=html,
                meta={"case_id": str(f["case_id"]), "borrower_id": str(f["borrower_id"])}
                if r.target_type == Audience.BORROWER
                else {},
            )
            prepared.append(
                Prepared(r, message, rendered.version, f["case_id"], _as_date(f["business_date"]))  # type: ignore[arg-type]
            )
        self._finish_unsent(conn, blocked, deferred, dead, now, report)
        return prepared

    @staticmethod
    def _suppressed(conn: Connection, indexes: set[str]) -> set[tuple[str, str]]:
        """(channel, address index) pairs opted out, among the given indexes."""
        s = comm_suppressions
        found: set[tuple[str, str]] = set()
        for chunk in _chunks(sorted(indexes), 500):
            found |= {
                (x.channel, x.address_index)
                for x in conn.execute(
                    select(s.c.channel, s.c.address_index).where(s.c.address_index.in_(chunk))
                )
            }
        return found

    def _finish_unsent(
        self,
        conn: Connection,
        blocked: list[tuple[Claimed, str, str | None]],
        deferred: list[tuple[Claimed, datetime | None]],
        dead: list[tuple[Claimed, str]],
        now: datetime,
        report: DispatchReport,
    ) -> None:
        o, a = t.outbox, t.actions
        if blocked:
            conn.execute(
                update(o)
                .where(o.c.id == bindparam("oid"))
                .values(
                    status="blocked", error=bindparam("why"), claimed_by=None, lease_until=None
                ),
                [{"oid": r.outbox_id, "why": reason} for r, reason, _ in blocked],
            )
            acts = [
                {"aid": r.action_id, "why": reason, "rule": rule}
                for r, reason, rule in blocked
                if r.action_id is not None
            ]
            if acts:
                conn.execute(
                    update(a)
                    .where(a.c.id == bindparam("aid"))
                    .values(status="blocked", reason=bindparam("why"), rule_id=bindparam("rule")),
                    acts,
                )
            for _, reason, rule in blocked:
                report.blocked += 1
                report.block_reasons[rule or reason] += 1
        if deferred:
            conn.execute(
                update(o)
                .where(o.c.id == bindparam("oid"))
                .values(
                    status="pending",
                    not_before=bindparam("later"),
                    attempts=o.c.attempts - 1,  # a deferral is not a failed attempt
                    claimed_by=None,
                    lease_until=None,
                ),
                [
                    {"oid": r.outbox_id, "later": not_before or now + self.config.backoff_base}
                    for r, not_before in deferred
                ],
            )
            report.deferred += len(deferred)
        for r, reason in dead:
            self._dead(conn, r, reason)
            report.dead += 1

    def _dead(self, conn: Connection, r: Claimed, reason: str) -> None:
        conn.execute(
            update(t.outbox)
            .where(t.outbox.c.id == r.outbox_id)
            .values(status="dead", error=reason[:2000], claimed_by=None, lease_until=None)
        )
        if r.action_id is not None:
            conn.execute(
                update(t.actions)
                .where(t.actions.c.id == r.action_id)
                .values(status="failed", reason=reason[:2000])
            )

    # -- record ----------------------------------------------------------------------------

    def _record(
        self,
        results: list[tuple[Prepared, Accepted | ChannelError]],
        now: datetime,
        report: DispatchReport,
        next_batch: list[Prepared],
    ) -> None:
        """Record a sent batch and, in the same transaction, mark the next one `sending`: at
        any moment at most one batch is with a provider and not yet recorded."""
        o, a = t.outbox, t.actions
        sent = [(p, res) for p, res in results if isinstance(res, Accepted)]
        failed = [(p, res) for p, res in results if isinstance(res, ChannelError)]
        mine = (o.c.claimed_by == self.config.worker_id) & _one_of(
            o.c.status, ("sending", "unknown")
        )
        with self.engine.begin() as conn:
            if sent:
                pairs = [(p.row.outbox_id, res.provider_id[:128]) for p, res in sent]
                done = {"sent_at": now, "error": None, "claimed_by": None, "lease_until": None}
                if self.postgres:
                    # one UPDATE ... FROM (VALUES ...) per batch
                    given = values(
                        column("oid", Integer), column("pid", String), name="given"
                    ).data(pairs)
                    conn.execute(
                        update(o)
                        .where(o.c.id == given.c.oid, mine)
                        .values(status="sent", provider_id=given.c.pid, **done)
                    )
                else:  # SQLite: executemany in process is as quick
                    conn.execute(
                        update(o)
                        .where(o.c.id == bindparam("oid"), mine)
                        .values(status="sent", provider_id=bindparam("pid"), **done),
                        [{"oid": oid, "pid": pid} for oid, pid in pairs],
                    )
                with_action = [p for p, _ in sent if p.row.action_id is not None]
                if with_action:
                    action_ids = sorted({p.row.action_id for p in with_action if p.row.action_id})
                    for aids in _chunks(action_ids, 500):
                        conn.execute(
                            update(a).where(among(conn, a.c.id, aids)).values(status="sent")
                        )
                    insert_rows(
                        conn,
                        t.interactions,
                        [
                            {
                                "case_id": p.case_id,
                                "action_id": p.row.action_id,
                                "occurred_at": now,
                                "business_date": p.business_date,
                                "channel": p.row.channel,
                                "target_type": p.row.target_type,
                                "target_id": p.row.target_id,
                                "outcome": "sent",
                                "agent": None,
                            }
                            for p in with_action
                        ],
                    )
                # a message sent again after review replaces its earlier record
                conn.execute(
                    comm_sends.delete().where(
                        among(conn, comm_sends.c.outbox_id, [p.row.outbox_id for p, _ in sent])
                    )
                )
                insert_rows(
                    conn,
                    comm_sends,
                    [
                        {
                            "outbox_id": p.row.outbox_id,
                            "template_version": p.template_version,
                            "segments": res.segments,
                            "sent_at": now,
                        }
                        for p, res in sent
                    ],
                )
                extra = [
                    {
                        "channel": p.row.channel,
                        "provider_id": pid[:128],
                        "outbox_id": p.row.outbox_id,
                    }
                    for p, res in sent
                    for pid in res.provider_ids[1:]
                ]
                if extra:
                    insert_rows(conn, comm_provider_refs, extra)
                for p, res in sent:
                    report.by_channel[p.row.channel] += 1
                    report.segments += res.segments
                report.sent += len(sent)
            for p, err in failed:
                if isinstance(err, DeliveryUncertain):
                    conn.execute(
                        update(o)
                        .where(o.c.id == p.row.outbox_id, mine)
                        .values(status="unknown", error=err.reason[:2000])
                    )
                    report.uncertain += 1
                    continue
                transient = isinstance(err, ChannelUnavailable)
                if transient and p.row.attempts < self.config.max_attempts:
                    conn.execute(
                        update(o)
                        .where(o.c.id == p.row.outbox_id, mine)
                        .values(
                            status="pending",
                            not_before=now + backoff(p.row.attempts, self.config, self.rng),
                            error=err.reason[:2000],
                            claimed_by=None,
                            lease_until=None,
                        )
                    )
                    report.retried += 1
                else:
                    why = (
                        err.reason
                        if not transient
                        else f"gave up after {p.row.attempts} attempts: {err.reason}"
                    )
                    self._dead(conn, p.row, why)
                    report.dead += 1
            self._mark_sending(conn, next_batch)
        if results:
            record_dispatch([p.row.channel for p, _ in sent], [p.row.channel for p, _ in failed])
            logs.event(
                "dispatch",
                "batch recorded",
                sent=len(sent),
                failed=len(failed),
                outbox_ids=[p.row.outbox_id for p, _ in results],
            )

    # -- events: delivery receipts and inbound messages ---------------------------------------

    def pump_events(self, now: datetime, report: DispatchReport) -> None:
        events = self._poll_events()
        if events:
            apply_events(self.engine, self.keyring, events, now, report)

    # -- run ---------------------------------------------------------------------------------

    def run_once(
        self,
        now: datetime,
        limit: int | None = None,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        on_progress: Callable[[int], None] | None = None,
    ) -> DispatchReport:
        """Send what is due, batch after batch. While one batch is with the providers, the
        last one is recorded, receipts are applied and the next is claimed and prepared, so the
        wire is seldom idle. A prepared batch stays `claimed` (never handed over, so a crash
        puts it back to `pending`) until the one before it has been sent."""
        now = _utc(now)
        report = DispatchReport()
        self.recover(now, report)
        with self.engine.connect() as conn:
            book = TemplateBook.load(conn)
        budget = [limit]

        def next_batch() -> list[Prepared] | None:
            """The next prepared batch ([] when every claimed row was settled without a send),
            or None when nothing is left to claim."""
            n = (
                self.config.batch_size
                if budget[0] is None
                else min(budget[0], self.config.batch_size)
            )
            if n <= 0 or should_stop():
                return None
            with self.engine.begin() as conn:
                rows = self._claim(conn, now, n)
                if not rows:
                    return None
                report.claimed += len(rows)
                prepared = self._prepare(conn, rows, now, book, report)
            if budget[0] is not None:
                budget[0] -= len(rows)
            if on_progress is not None:
                on_progress(len(rows))
            return prepared

        with ThreadPoolExecutor(1, thread_name_prefix="dispatch-send") as sender:
            queued = next_batch()
            inflight: Future[list[tuple[Prepared, Accepted | ChannelError]]] | None = None
            try:
                while queued is not None or inflight is not None:
                    results = inflight.result() if inflight is not None else []
                    events = self._poll_events()  # between sends: adapters are not shared
                    inflight = None
                    if results or queued:
                        self._record(results, now, report, queued or [])
                    if queued:
                        inflight = sender.submit(self._send, queued)
                    if events:
                        apply_events(self.engine, self.keyring, events, now, report)
                    queued = next_batch() if queued is not None else None
            except BaseException:
                # what is on the wire is still recorded (else it would surface as unknown)
                if inflight is not None:
                    self._record(inflight.result(), now, report, [])
                raise
        for adapter in self.channels.distinct():
            adapter.flush()
        events = self._poll_events()
        if events:
            apply_events(self.engine, self.keyring, events, now, report)
        return report

    def _mark_sending(self, conn: Connection, prepared: list[Prepared]) -> None:
        """The moment of handing over: from here a crash leaves the rows `unknown`."""
        o = t.outbox
        for ids in _chunks([p.row.outbox_id for p in prepared], 500):
            conn.execute(
                update(o)
                .where(
                    among(conn, o.c.id, ids),
                    o.c.status == "claimed",
                    o.c.claimed_by == self.config.worker_id,
                )
                .values(status="sending")
            )

    def _poll_events(self) -> list[ChannelEvent]:
        events: list[ChannelEvent] = []
        for adapter in self.channels.distinct():
            events.extend(adapter.poll_events())
        return events

    def _send(self, prepared: list[Prepared]) -> list[tuple[Prepared, Accepted | ChannelError]]:
        by_channel: dict[str, list[Prepared]] = defaultdict(list)
        for p in prepared:
            by_channel[p.row.channel].append(p)
        results: list[tuple[Prepared, Accepted | ChannelError]] = []
        for channel, items in by_channel.items():
            adapter = self.channels.get(channel)
            limiter = self.limiters.get(channel)
            step = len(items) if limiter is None else max(1, int(limiter.capacity))
            for start in range(0, len(items), step):
                chunk = items[start : start + step]
                if limiter is not None:
                    limiter.acquire(len(chunk))
                try:
                    outcomes = adapter.send_batch([p.message for p in chunk])
                except ChannelError as exc:
                    outcomes = [exc] * len(chunk)
                except OSError as exc:
                    outcomes = [ChannelUnavailable(f"{type(exc).__name__}: {exc}")] * len(chunk)
                results.extend(zip(chunk, outcomes, strict=True))
        return results


def dispatch_once(
    engine: Engine,
    keyring: KeyRing,
    channels: ChannelSet | Mapping[str, Channel] | Channel,
    now: datetime,
    limit: int | None = None,
    **kw: Any,
) -> DispatchReport:
    """Send every due message once (up to `limit`), then return what happened.

    Keyword arguments: comms (CommsConfig), gate (SendGate), config (DispatchConfig),
    should_stop, on_progress.
    """
    run_kw = {k: kw.pop(k) for k in ("should_stop", "on_progress") if k in kw}
    return Dispatcher(engine, keyring, channels, **kw).run_once(now, limit, **run_kw)


# --- receipts and inbound ------------------------------------------------------------------


def _insert_ignore(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)


def apply_events(
    engine: Engine,
    keyring: KeyRing,
    events: Iterable[ChannelEvent],
    now: datetime,
    report: DispatchReport | None = None,
) -> DispatchReport:
    """Delivery receipts move `sent` messages to delivered / failed (the action and the
    interaction follow); an inbound TD / 退订 / STOP opts the number out on that channel."""
    report = report or DispatchReport()
    now = _utc(now)
    receipts = [e for e in events if isinstance(e, DeliveryReceipt)]
    inbound = [e for e in events if isinstance(e, InboundMessage)]
    o, a, i = t.outbox, t.actions, t.interactions
    with engine.begin() as conn:
        if receipts:
            found = _receipted(conn, receipts)
            log, moves = [], []
            for r in receipts:
                match = found.get((r.channel, r.provider_id))
                log.append(
                    {
                        "channel": r.channel,
                        "provider_id": r.provider_id,
                        "outbox_id": match[0] if match else None,
                        "state": r.state.value,
                        "reason": r.reason,
                        "received_at": now,
                    }
                )
                if match:
                    moves.append((match, r.state))
            insert_rows(conn, comm_receipts, log)
            delivered = [m for m, s in moves if s is ReceiptState.DELIVERED]
            failed = [m for m, s in moves if s is ReceiptState.FAILED]
            for state, items, from_states in (
                ("delivered", delivered, ("sent", "unknown")),
                ("failed", failed, ("sent", "unknown", "delivered")),
            ):
                # one statement per few hundred messages (a message's parts share its row)
                for oids in _chunks(sorted({oid for oid, _ in items}), 500):
                    conn.execute(
                        update(o)
                        .where(among(conn, o.c.id, oids), o.c.status.in_(from_states))
                        .values(status=state)
                    )
                for aids in _chunks(sorted({aid for _, aid in items if aid is not None}), 500):
                    conn.execute(
                        update(a)
                        .where(among(conn, a.c.id, aids), a.c.status.in_(("sent", "delivered")))
                        .values(status=state)
                    )
                    conn.execute(
                        update(i)
                        .where(
                            among(conn, i.c.action_id, aids),
                            i.c.outcome.in_(("sent", "delivered")),
                        )
                        .values(outcome=state)
                    )
            report.receipts += len(receipts)
        for msg in inbound:
            if msg.channel == "email":
                report.inbound += 1
                report.opt_outs += _email_inbound(conn, keyring, msg, now)
                continue
            try:
                sender = normalise_phone(
                    msg.sender
                    if msg.sender.startswith("+") or msg.sender.startswith("1")
                    else "+" + msg.sender
                )
            except PhoneInvalid:
                sender = msg.sender
            index = keyring.blind_index(sender) or ""
            opt_out = is_opt_out(msg.text)
            conn.execute(
                insert(comm_inbound).values(
                    channel=msg.channel,
                    sender_index=index,
                    sender_enc=keyring.encrypt(sender),
                    body_enc=keyring.encrypt(msg.text),
                    received_at=_utc(msg.received_at) if msg.received_at else now,
                    opt_out=1 if opt_out else 0,
                )
            )
            report.inbound += 1
            if opt_out:
                _insert_ignore(
                    conn,
                    comm_suppressions,
                    [
                        {
                            "channel": ch,
                            "address_index": index,
                            "reason": "opt_out",
                            "created_at": now,
                        }
                        for ch in ("sms", "voice")
                    ],
                )
                conn.execute(
                    update(t.contacts)
                    .where(t.contacts.c.phone_index == index, t.contacts.c.status == "active")
                    .values(status="opted_out")
                )
                report.opt_outs += 1
    return report


_MESSAGE_KEY = re.compile(r"\barrears-(\d+)\b")


def _receipted(
    conn: Connection, receipts: Sequence[DeliveryReceipt]
) -> dict[tuple[str, str], tuple[int, int | None]]:
    """(channel, provider id) -> (outbox id, action id) of the messages the receipts are for: a
    message's first part by its row's provider id, further parts through comm_provider_refs
    (looked up by its key, the channel first)."""
    o, refs = t.outbox, comm_provider_refs
    by_channel: defaultdict[str, set[str]] = defaultdict(set)
    for r in receipts:
        by_channel[r.channel].add(r.provider_id)
    found: dict[tuple[str, str], tuple[int, int | None]] = {}
    for channel, ids in sorted(by_channel.items()):
        for chunk in _chunks(sorted(ids), 500):
            first = select(o.c.provider_id, o.c.id, o.c.action_id).where(
                among(conn, o.c.provider_id, chunk),
                o.c.provider_id.is_not(None),  # what the index holds (ix_outbox_provider_id)
                o.c.channel == channel,
            )
            for row in conn.execute(first):
                found[(channel, row.provider_id)] = (row.id, row.action_id)
            # further parts: two look-ups by key, no join for the planner to get wrong while
            # the tables are young and their statistics empty
            further = dict(
                conn.execute(
                    select(refs.c.provider_id, refs.c.outbox_id).where(
                        refs.c.channel == channel, refs.c.provider_id.in_(chunk)
                    )
                ).all()
            )
            if further:
                actions = dict(
                    conn.execute(
                        select(o.c.id, o.c.action_id).where(
                            among(conn, o.c.id, sorted(set(further.values())))
                        )
                    ).all()
                )
                for pid, oid in further.items():
                    found[(channel, pid)] = (oid, actions.get(oid))
    return found


def is_unsubscribe(text: str) -> bool:
    """An e-mail that asks to stop: the List-Unsubscribe mailto's subject ("unsubscribe
    arrears-7"), or a reply whose first line is an opt-out word (UNSUBSCRIBE, STOP, 退订, TD)."""
    first = (text.strip().splitlines() or [""])[0].strip()
    return first.upper().startswith("UNSUBSCRIBE") or is_opt_out(first)


def email_recipient(conn: Connection, outbox_id: int) -> Any:
    """The borrower an e-mail of the outbox went to (`language`, `email_enc`), or None when no
    e-mail to a borrower has that id."""
    o, b = t.outbox, t.borrowers
    return conn.execute(
        select(b.c.language, b.c.email_enc)
        .join(o, (o.c.target_type == "borrower") & (o.c.target_id == b.c.id))
        .where(o.c.id == outbox_id, o.c.channel == "email")
    ).first()


def unsubscribe_email(
    conn: Connection,
    keyring: KeyRing,
    *,
    at: datetime,
    address: str | None = None,
    outbox_id: int | None = None,
    reason: str = "opt_out",
) -> list[str]:
    """Opt e-mail addresses out of e-mail: `address` (who wrote to the List-Unsubscribe mailto)
    and the address message `outbox_id` went to (the one-click link and the mailto subject name
    it). Kept by blind index in `comm_suppressions`; the dispatcher sends them no more e-mail.
    Returns the indexes suppressed."""
    indexes = {email_index(keyring, address)}
    recipient = email_recipient(conn, outbox_id) if outbox_id is not None else None
    if recipient is not None and recipient.email_enc is not None:
        indexes.add(email_index(keyring, keyring.decrypt(recipient.email_enc)))
    found = sorted(i for i in indexes if i)
    _insert_ignore(
        conn,
        comm_suppressions,
        [
            {"channel": "email", "address_index": i, "reason": reason, "created_at": _utc(at)}
            for i in found
        ],
    )
    return found


def _email_inbound(conn: Connection, keyring: KeyRing, msg: InboundMessage, now: datetime) -> int:
    """Store an inbound e-mail; an unsubscribe opts the sender and the addressed message's
    recipient out of e-mail. Returns 1 for an opt-out."""
    sender = msg.sender.strip().lower()
    opt_out = is_unsubscribe(msg.text)
    conn.execute(
        insert(comm_inbound).values(
            channel="email",
            sender_index=email_index(keyring, sender) or "",
            sender_enc=keyring.encrypt(sender),
            body_enc=keyring.encrypt(msg.text),
            received_at=_utc(msg.received_at) if msg.received_at else now,
            opt_out=1 if opt_out else 0,
        )
    )
    if not opt_out:
        return 0
    key = _MESSAGE_KEY.search(msg.text)
    unsubscribe_email(conn, keyring, at=now, address=sender, outbox_id=int(key[1]) if key else None)
    return 1


def _one_of(column: Any, values: Iterable[str]) -> Any:
    """`column IN (...)` spelt as ORs, which executemany accepts (expanding IN it does not)."""
    return or_(*(column == literal_column(f"'{v}'") for v in values))


def _chunks(items: Sequence[_T], n: int) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), n):
        yield items[start : start + n]


# --- review ----------------------------------------------------------------------------------


def unknown_messages(conn: Connection) -> list[dict[str, Any]]:
    o = t.outbox
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(o.c.id, o.c.channel, o.c.template, o.c.target_type, o.c.attempts, o.c.error)
            .where(o.c.status == "unknown")
            .order_by(o.c.id)
        )
    ]


def resolve_unknown(conn: Connection, outbox_id: int, *, resend: bool, by: str) -> None:
    """A person's verdict on a message whose fate was unknown: treat as sent, or send again."""
    o = t.outbox
    row = conn.execute(select(o.c.status).where(o.c.id == outbox_id)).one_or_none()
    if row is None or row.status != "unknown":
        raise LookupError(
            f"message {outbox_id} is not awaiting review (status {row and row.status})"
        )
    conn.execute(
        update(o)
        .where(o.c.id == outbox_id)
        .values(
            status="pending" if resend else "sent",
            claimed_by=None,
            lease_until=None,
            error=f"reviewed by {by}: {'resend' if resend else 'treated as sent'}",
        )
    )


class PreviewCaseNotFound(LookupError):
    """A template preview names a case (or a contact of it) that does not exist."""


def preview_context(
    conn: Connection,
    keyring: KeyRing,
    comms: CommsConfig,
    book: TemplateBook,
    spec: TemplateSpec,
    case_id: int,
    contact_id: str | None,
    as_of: date,
) -> tuple[dict[str, Any], str | None]:
    """What a template shows for a real case (`arrears templates preview --case`): the
    dispatcher's own context for this case — a message is written, loaded through
    `ContextLoader` exactly as a send would, and rolled back with the connection's transaction
    (so `conn` must hold nothing uncommitted of its own)."""
    case = conn.execute(
        select(t.cases.c.id, t.cases.c.borrower_id).where(t.cases.c.id == case_id)
    ).one_or_none()
    if case is None:
        raise PreviewCaseNotFound(f"no case {case_id}; see the case list in the web app")
    target = case.borrower_id
    if spec.audience is Audience.CONTACT:
        query = select(t.contacts.c.id).where(t.contacts.c.borrower_id == case.borrower_id)
        if contact_id is not None:
            query = query.where(t.contacts.c.id == contact_id)
        target = conn.execute(query.order_by(t.contacts.c.id).limit(1)).scalar()
        if target is None:
            raise PreviewCaseNotFound(
                f"case {case_id} has no contact {contact_id or ''} to address a contact template"
                " to; pass --contact with one of the borrower's contacts".replace("  ", " ")
            )
    now = datetime.now(UTC)
    try:
        action_id = conn.execute(
            insert(t.actions)
            .values(
                case_id=case_id,
                business_date=as_of,
                step="template_preview",
                target_type=spec.audience.value,
                target_id=target,
                channel=spec.channel,
                template=spec.name,
                status="planned",
            )
            .returning(t.actions.c.id)
        ).scalar_one()
        outbox_id = conn.execute(
            insert(t.outbox)
            .values(
                action_id=action_id,
                channel=spec.channel,
                template=spec.name,
                language=spec.language,
                target_type=spec.audience.value,
                target_id=target,
                status="blocked",
                not_before=now,
                created_at=now,
            )
            .returning(t.outbox.c.id)
        ).scalar_one()
        row = Claimed(
            outbox_id, action_id, spec.channel, spec.name, spec.language, spec.audience, target, 0
        )
        loader = ContextLoader(keyring, comms, book)
        context = loader.load(conn, [row])[outbox_id]
        address, _ = loader.address(row, context["_facts"])
    finally:
        conn.rollback()  # nothing of the preview stays
    return context, address
