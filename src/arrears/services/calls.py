"""Calls an agent places from the case page, through the dialler port.

The browser flow (preview dialling): the agent clicks Call → `place_call` asks the compliance
port at that moment, decrypts the number here on the server, writes a `calls` row and starts the
call; it returns at once (`CallAttempt`, the call ringing) — or the refusal, with the rule and
the time it would be allowed, when the rule pack says no (nothing dials). The page then asks
`call_status` every second or two; when the dialler reports the end of the call (its callback
runs `finish_call` in the dialler's thread; `call_status` collects the result as well, in case
the callback was lost), the status carries the outcome the call proved (answered with its
talk time, no answer, busy, rejected) and the interaction it recorded; the agent completes the
rest with `wrap_up_call` (promise, hardship…) from the same screen. `place_call(…, wait=True)`
blocks until the call is over instead (the CLI, tests, a power dialler's worker).

What the call records, in one transaction when it ends:
- the `calls` row completed (answer/end times, outcome, talk time, recording path and SHA-256);
- an `interactions` row (channel `call`) with the outcome the call proved: answered →
  right-party contact (borrower) or contact reached (contact), which the agent's wrap-up
  refines; no answer → no answer; busy or rejected (a declined call sounds busy to the caller)
  → busy. A failed call (the dialler could not place it) reached no one: no interaction, so it
  does not count against the rule pack's daily caps;
- an audit-log entry (kind `recording`) with the recording's path and SHA-256.

Recordings are played back by team leads and compliance officers only (`open_recording`), each
playback audited; `purge_recordings` deletes those older than the rule pack's retention period.
The number dialled never leaves the server: not in the results, the rows, the audit or the logs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from arrears.channels.telephony.port import (
    CallOutcome,
    CallRequest,
    CallResult,
    Dialer,
    DialerBusy,
    DialerUnavailable,
)
from arrears.channels.telephony.recordings import RecordingStore
from arrears.channels.telephony.webhook import WebhookDialer
from arrears.compliance.port import Verdict, check_dial
from arrears.domain.outcomes import (
    CONNECTED,
    HardshipKind,
    Outcome,
    Target,
    check_outcome,
)
from arrears.engine.run_day import last_business_date
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.outcomes import record_outcome
from arrears.services.retention import cutoff_for
from arrears.services.users import Role, User
from arrears.store import tables as t
from arrears.store.tables_calls import calls

log = logging.getLogger(__name__)

AUDIT_RECORDING = audit.AuditKind.RECORDING
PLAYBACK_ROLES = frozenset({Role.TEAM_LEAD, Role.COMPLIANCE})


class CallNotFound(LookupError):
    def __init__(self, call_id: int | str) -> None:
        super().__init__(f"no call {call_id}; it may belong to another database")


class CallTargetHasNoNumber(ValueError):
    def __init__(self, who: str) -> None:
        super().__init__(f"the {who} has no phone number on file; nothing was dialled")


class RecordingForbidden(PermissionError):
    def __init__(self, role: str) -> None:
        super().__init__(
            f"recordings are played by team leads and compliance officers; the role {role!r} "
            "may not — ask your team lead"
        )


class RecordingUnavailable(LookupError):
    pass


class CallNotAnswered(ValueError):
    def __init__(self, call_id: int) -> None:
        super().__init__(
            f"call {call_id} was not answered (or is still running); record the attempt's outcome "
            "on the case instead"
        )


@dataclass(frozen=True)
class CallAttempt:
    """What Call did: placed (`call_id` to follow) or refused by the rule pack (`verdict`)."""

    verdict: Verdict
    call_id: int | None = None
    status: CallStatus | None = None  # set when placed with wait=True, or failed at once

    @property
    def placed(self) -> bool:
        return self.call_id is not None


@dataclass(frozen=True)
class CallStatus:
    call_id: int
    case_id: int
    agent: str
    target_type: str
    target_id: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None  # CallOutcome, None while the call runs
    talk_ms: int | None
    interaction_id: int | None
    has_recording: bool

    @property
    def done(self) -> bool:
        return self.ended_at is not None

    @property
    def talk_seconds(self) -> Decimal | None:
        if self.talk_ms is None:
            return None
        return (Decimal(self.talk_ms) / 1000).quantize(Decimal("0.001"))


@dataclass(frozen=True)
class Recording:
    call_id: int
    data: bytes
    sha256: str
    media_type: str = "audio/wav"

    @property
    def filename(self) -> str:
        return f"call-{self.call_id}.wav"


_INTERACTION_OUTCOME = {
    CallOutcome.NO_ANSWER: Outcome.NO_ANSWER,
    CallOutcome.BUSY: Outcome.BUSY,
    CallOutcome.REJECTED: Outcome.BUSY,
}


def interaction_outcome(outcome: CallOutcome, target: Target) -> Outcome | None:
    """The interaction a call's end proves (None: a failed call reached no one)."""
    if outcome is CallOutcome.ANSWERED:
        return Outcome.RIGHT_PARTY if target is Target.BORROWER else Outcome.CONTACT_REACHED
    return _INTERACTION_OUTCOME.get(outcome)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def _number(conn: Connection, ring: KeyRing, case_id: int, who: Target, target_id: str) -> str:
    table = t.borrowers if who is Target.BORROWER else t.contacts
    blob = conn.scalar(select(table.c.phone_enc).where(table.c.id == target_id))
    number = ring.decrypt(blob) if blob is not None else None
    if not number:
        raise CallTargetHasNoNumber(who.value)
    return number


def place_call(
    engine: Engine,
    dialer: Dialer,
    *,
    ring: KeyRing,
    case_id: int,
    target: str,
    contact_id: int | str | None,
    agent_user_id: str,
    at: datetime,
    max_ring_seconds: float = 30.0,
    wait: bool = False,
    wait_timeout: float | None = None,
) -> CallAttempt:
    """Check, dial, record. Returns at once with the call ringing (or the refusal); with
    `wait=True` returns once the call is over, its status filled in."""
    at = _utc(at)
    who = Target(target)
    with engine.begin() as conn:
        verdict = check_dial(
            conn, case_id=case_id, target=who.value, contact_id=contact_id, at=at,
            agent=agent_user_id,
        )  # fmt: skip
        if not verdict.allowed:
            return CallAttempt(verdict)
        borrower_id = conn.scalar(select(t.cases.c.borrower_id).where(t.cases.c.id == case_id))
        target_id = str(contact_id) if who is Target.CONTACT else str(borrower_id)
        number = _number(conn, ring, case_id, who, target_id)
        key = uuid.uuid4().hex
        call_id = conn.execute(
            calls.insert()
            .values(
                call_key=key,
                case_id=case_id,
                action_id=verdict.action_id,
                agent=agent_user_id,
                target_type=who.value,
                target_id=target_id,
                dialer=getattr(dialer, "name", type(dialer).__name__),
                business_date=last_business_date(conn) or at.date(),
                started_at=at,
            )
            .returning(calls.c.id)
        ).scalar_one()
    request = CallRequest(key, number, agent_user_id, max_ring_seconds)
    del number

    def on_end(result: CallResult) -> None:
        try:
            finish_call(engine, ring, result)
        except Exception:  # the dialler's thread: log, call_status collects it again
            log.exception("recording the end of call %s failed", call_id)

    try:
        dialer.dial(request, on_end=on_end)
    except (DialerBusy, DialerUnavailable) as exc:
        failed = CallResult(key, CallOutcome.FAILED, at, at, reason=str(exc)[:120])
        finish_call(engine, ring, failed)
        raise
    if wait:
        result = dialer.wait(key, wait_timeout)
        if result is not None:
            finish_call(engine, ring, result)
        return CallAttempt(verdict, call_id, call_status(engine, call_id))
    return CallAttempt(verdict, call_id)


def finish_call(engine: Engine, ring: KeyRing, result: CallResult) -> int | None:
    """Record the end of a call (idempotent: a call already finished is left as it is).
    Returns the interaction's id, if the call made one."""
    with engine.begin() as conn:
        # claim the end first: the dialler's callback and a status poll may both get here; the
        # UPDATE takes the row's (PostgreSQL) or the database's (SQLite) write lock, so exactly
        # one of them records the call
        claimed = conn.execute(
            update(calls)
            .where(calls.c.call_key == result.call_id, calls.c.ended_at.is_(None))
            .values(ended_at=result.ended_at)
        ).rowcount
        row = conn.execute(select(calls).where(calls.c.call_key == result.call_id)).one_or_none()
        if row is None:
            raise CallNotFound(result.call_id)
        if not claimed:
            return row.interaction_id  # type: ignore[no-any-return]
        who = Target(row.target_type)
        outcome = interaction_outcome(result.outcome, who)
        interaction_id = None
        if outcome is not None:
            interaction_id = record_outcome(
                conn,
                case_id=row.case_id,
                target_type=who.value,
                target_id=row.target_id,
                channel="call",
                outcome=outcome.value,
                at=_utc(row.started_at),
                business_date=row.business_date,
                agent=row.agent,
                action_id=row.action_id,
            ).interaction_id
        rec = result.recording
        conn.execute(
            update(calls)
            .where(calls.c.id == row.id)
            .values(
                answered_at=result.answered_at,
                ended_at=result.ended_at,
                outcome=result.outcome.value,
                talk_ms=result.talk_ms,
                reason=result.reason[:128] or None,
                interaction_id=interaction_id,
                recording_path=rec.path if rec else None,
                recording_sha256=rec.sha256 if rec else None,
                recording_ms=rec.duration_ms if rec else None,
            )
        )
        if rec is not None:
            audit.append(
                conn,
                ring,
                actor=row.agent,
                kind=AUDIT_RECORDING,
                subject=f"call:{row.id}",
                detail={
                    "event": "stored",
                    "case": row.case_id,
                    "interaction": interaction_id,
                    "path": rec.path,
                    "sha256": rec.sha256,
                    "ms": rec.duration_ms,
                },
                at=result.ended_at,
            )
        return interaction_id


def receive_call_result(
    engine: Engine, ring: KeyRing, dialer: WebhookDialer, body: bytes, signature: str | None
) -> CallStatus:
    """A cloud call centre's signed result callback (the edge passes the raw body and the
    signature header): verified, its recording kept, the call recorded — also for a call dialled
    before a restart. Raises WebhookSignatureInvalid, CallbackInvalid, CallNotFound."""
    result = dialer.handle_callback(body, signature)
    finish_call(engine, ring, result)
    with engine.connect() as conn:
        row = conn.execute(select(calls).where(calls.c.call_key == result.call_id)).one()
    return _status(row)


def _status(row: Any) -> CallStatus:
    return CallStatus(
        call_id=row.id,
        case_id=row.case_id,
        agent=row.agent,
        target_type=row.target_type,
        target_id=row.target_id,
        started_at=_utc(row.started_at),
        answered_at=_utc(row.answered_at) if row.answered_at else None,
        ended_at=_utc(row.ended_at) if row.ended_at else None,
        outcome=row.outcome,
        talk_ms=row.talk_ms,
        interaction_id=row.interaction_id,
        has_recording=row.recording_path is not None and row.recording_purged_on is None,
    )


def call_status(
    engine: Engine, call_id: int, *, dialer: Dialer | None = None, ring: KeyRing | None = None
) -> CallStatus:
    """The call as recorded; given the dialler (and key ring), a finished call whose result was
    not recorded yet is recorded now."""
    with engine.connect() as conn:
        row = conn.execute(select(calls).where(calls.c.id == call_id)).one_or_none()
    if row is None:
        raise CallNotFound(call_id)
    if row.ended_at is None and dialer is not None and ring is not None:
        try:
            result = dialer.result(row.call_key)
        except LookupError:  # the dialler restarted since: the call's end is unknown
            started = _utc(row.started_at)
            result = CallResult(
                row.call_key,
                CallOutcome.FAILED,
                started,
                started,
                reason="the dialler restarted during the call; its end is unknown",
            )
        if result is not None:
            finish_call(engine, ring, result)
            return call_status(engine, call_id)
    return _status(row)


def hangup_call(engine: Engine, dialer: Dialer, call_id: int) -> None:
    """End the call now (the agent's Hang up); the result arrives as for any other end."""
    with engine.connect() as conn:
        key = conn.scalar(select(calls.c.call_key).where(calls.c.id == call_id))
    if key is None:
        raise CallNotFound(call_id)
    dialer.hangup(key)


def calls_in_progress(conn: Connection, agents: Sequence[str] | None = None) -> list[CallStatus]:
    """Who is on a call now (the team lead's floor): calls started and not ended."""
    q = select(calls).where(calls.c.ended_at.is_(None)).order_by(calls.c.started_at)
    if agents is not None:
        q = q.where(calls.c.agent.in_(list(agents)))
    return [_status(r) for r in conn.execute(q)]


def reconcile_calls(engine: Engine, dialer: Dialer, ring: KeyRing) -> int:
    """Record every running call the dialler has seen end (or no longer knows: a restart), so
    "on a call now" holds only calls still running when no page is following them. Returns how
    many calls were closed."""
    with engine.connect() as conn:
        live = [r.id for r in conn.execute(select(calls.c.id).where(calls.c.ended_at.is_(None)))]
    return sum(call_status(engine, i, dialer=dialer, ring=ring).done for i in live)


def calls_of_case(conn: Connection, case_id: int) -> list[CallStatus]:
    """The case's calls, newest first (the timeline: calls with their recordings)."""
    q = select(calls).where(calls.c.case_id == case_id).order_by(calls.c.started_at.desc())
    return [_status(r) for r in conn.execute(q)]


def open_recording(
    engine: Engine,
    ring: KeyRing,
    store: RecordingStore,
    *,
    call_id: int,
    user: User,
    at: datetime,
) -> Recording:
    """The call's recording for playback: team leads and compliance officers only; every
    playback (and every refused attempt) goes to the audit log."""
    at = _utc(at)
    with engine.begin() as conn:
        row = conn.execute(select(calls).where(calls.c.id == call_id)).one_or_none()
        if row is None:
            raise CallNotFound(call_id)
        allowed = user.active and user.role in PLAYBACK_ROLES
        detail: dict[str, Any] = {"event": "played" if allowed else "refused", "case": row.case_id}
        if not allowed:
            audit.append(
                conn, ring, actor=user.username, kind=AUDIT_RECORDING,
                subject=f"call:{call_id}", detail=detail, at=at,
            )  # fmt: skip
    if not allowed:
        raise RecordingForbidden(str(user.role))
    if row.recording_path is None or row.recording_purged_on is not None:
        raise RecordingUnavailable(
            f"call {call_id} has no recording"
            + (" (past its retention period)" if row.recording_purged_on else "")
        )
    data = store.read(row.recording_path, row.recording_sha256)
    with engine.begin() as conn:
        audit.append(
            conn, ring, actor=user.username, kind=AUDIT_RECORDING,
            subject=f"call:{call_id}", detail={**detail, "sha256": row.recording_sha256}, at=at,
        )  # fmt: skip
    return Recording(call_id, data, row.recording_sha256)


@dataclass(frozen=True)
class RecordingPurge:
    as_of: date
    cutoff: date
    deleted: int


def purge_recordings(
    engine: Engine,
    ring: KeyRing,
    store: RecordingStore,
    *,
    as_of: date,
    years: int | None = None,
    dry_run: bool = False,
) -> RecordingPurge:
    """Delete recordings of calls started before the rule pack's retention period (`years`, or
    the portfolio's pack's); the calls keep their SHA-256 and the day they were purged. The
    calls are marked (and the sweep audited) first, the files deleted after: a sweep cut short
    is finished by the next one. `dry_run` only counts."""
    with engine.begin() as conn:
        if years is None:
            from arrears.compliance.loading import load_pack, portfolio_pack

            years = load_pack(portfolio_pack(conn)).retention_years
        cutoff = cutoff_for(as_of, years)
        expired = store.expired(cutoff)
        if dry_run:
            return RecordingPurge(as_of, cutoff, len(expired))
        for start in range(0, len(expired), 1000):
            conn.execute(
                update(calls)
                .where(
                    calls.c.recording_path.in_(expired[start : start + 1000]),
                    calls.c.recording_purged_on.is_(None),
                )
                .values(recording_purged_on=as_of)
            )
        audit.append(
            conn, ring, actor="retention", kind=audit.AuditKind.RETENTION,
            subject="recordings",
            detail={"cutoff": cutoff.isoformat(), "recordings": len(expired)},
            at=datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC),
        )  # fmt: skip
    deleted = store.delete(expired)
    return RecordingPurge(as_of, cutoff, deleted)


def wrap_up_call(
    engine: Engine,
    call_id: int,
    *,
    outcome: str,
    hardship: str | None = None,
    note: str | None = None,
) -> int:
    """The agent completes an answered call's interaction: what was said (promise, hardship,
    refused, dispute…), on the interaction the call recorded. Returns the interaction's id."""
    with engine.begin() as conn:
        row = conn.execute(select(calls).where(calls.c.id == call_id)).one_or_none()
        if row is None:
            raise CallNotFound(call_id)
        if row.interaction_id is None or row.outcome != CallOutcome.ANSWERED:
            raise CallNotAnswered(call_id)
        who, result = Target(row.target_type), Outcome(outcome)
        kind = HardshipKind(hardship) if hardship else None
        check_outcome(who, result, kind)
        conn.execute(
            update(t.interactions)
            .where(t.interactions.c.id == row.interaction_id)
            .values(outcome=result.value, hardship=kind, note=note)
        )
        changes: dict[str, object] = {}
        if result in CONNECTED:
            changes["last_contact_on"] = row.business_date
        if kind is not None:
            changes.update(hardship=kind.value, hardship_note=note)
        if changes:
            conn.execute(update(t.cases).where(t.cases.c.id == row.case_id).values(**changes))
        if who is Target.CONTACT and result is Outcome.CONTACT_REFUSED:
            conn.execute(
                update(t.contacts).where(t.contacts.c.id == row.target_id).values(status="refused")
            )
        return int(row.interaction_id)
