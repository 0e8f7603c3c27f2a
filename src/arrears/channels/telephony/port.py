"""The dialler port: how the platform places a call, whatever places it.

A `Dialer` dials a `CallRequest` (a SIP URI or number the server turned the borrower's number
into — it never reaches the agent's browser), and reports a `CallResult` once the call is over:
how it ended (`CallOutcome`), when it was answered and ended, and its recording (stored by a
`RecordingStore`, path relative to the store's root, with its SHA-256).

Calls are asynchronous: `dial` returns at once with a `CallHandle`; the result arrives later,
either through the `on_end` callback given to `dial` (called once, from the adapter's thread) or
by asking `result(call_id)` / `wait(call_id, timeout)`. `hangup(call_id)` ends a call early (the
agent's button, or the adapter's own no-answer timer).

Adapters: `baresip.BaresipDialer` (the agent's softphone, driven over `ctrl_tcp`),
`webhook.WebhookDialer` (a cloud call centre: POST to start, signed callback with the result).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"  # rang until the ring timeout (we cancelled), or 408/480/487
    BUSY = "busy"  # 486 Busy Here, 600 Busy Everywhere
    REJECTED = "rejected"  # the callee declined: 603 Decline, 403
    FAILED = "failed"  # no call was made: unreachable, wrong route, dialler error


class DialerUnavailable(RuntimeError):
    """The dialler cannot place calls (softphone not running, cloud unreachable)."""


class DialerBusy(RuntimeError):
    """The agent's line already has a call in progress."""

    def __init__(self, agent: str) -> None:
        super().__init__(
            f"the line of {agent!r} already has a call; hang it up or wait for it to end"
        )


class CallUnknown(LookupError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"no call {call_id!r} on this dialler")


@dataclass(frozen=True)
class CallRequest:
    """One call to place. `target` is a SIP URI (or E.164 number for a cloud dialler): it stays
    on the server and is masked in the request's repr."""

    call_id: str
    target: str = field(repr=False)
    agent: str  # the agent's extension / user name: whose softphone places the call
    max_ring_seconds: float = 30.0


@dataclass(frozen=True)
class CallHandle:
    call_id: str
    agent: str
    started_at: datetime


@dataclass(frozen=True)
class StoredRecording:
    path: str  # relative to the recording store's root, "/"-separated
    sha256: str
    duration_ms: int
    size: int


@dataclass(frozen=True)
class CallResult:
    call_id: str
    outcome: CallOutcome
    started_at: datetime
    ended_at: datetime
    answered_at: datetime | None = None
    reason: str = ""  # what the network said ("486 Busy Here", "ring timeout"), for logs
    recording: StoredRecording | None = None

    @property
    def talk_ms(self) -> int:
        """Milliseconds from answer to hang-up (0 for an unanswered call)."""
        if self.answered_at is None:
            return 0
        return max(0, round((self.ended_at - self.answered_at).total_seconds() * 1000))

    @property
    def duration_seconds(self) -> Decimal:
        """The call's talk time in seconds, to the millisecond."""
        return (Decimal(self.talk_ms) / 1000).quantize(Decimal("0.001"))

    @property
    def recording_path(self) -> str | None:
        return self.recording.path if self.recording else None

    @property
    def recording_sha256(self) -> str | None:
        return self.recording.sha256 if self.recording else None


OnCallEnd = Callable[[CallResult], None]


@runtime_checkable
class Dialer(Protocol):
    """What the calls service needs of a dialler."""

    name: str

    def dial(self, request: CallRequest, on_end: OnCallEnd | None = None) -> CallHandle:
        """Start the call and return at once; raises DialerBusy, DialerUnavailable."""
        ...

    def hangup(self, call_id: str) -> None:
        """End the call now (a call already over is left alone)."""
        ...

    def result(self, call_id: str) -> CallResult | None:
        """The call's result once it is over, else None; CallUnknown for a call never dialled."""
        ...

    def wait(self, call_id: str, timeout: float | None = None) -> CallResult | None:
        """Block until the call is over (or `timeout` seconds pass: None)."""
        ...

    def close(self) -> None:
        """Hang up what is running and release the dialler's processes and sockets."""
        ...


def outcome_of_sip(reason: str, *, established: bool, cancelled_for_timeout: bool) -> CallOutcome:
    """How a call ended, from what the network said when it closed."""
    if established:
        return CallOutcome.ANSWERED
    if cancelled_for_timeout:
        return CallOutcome.NO_ANSWER
    text = reason.lower()
    code = text.split(" ", 1)[0] if text[:3].isdigit() else ""
    if code in ("486", "600") or "busy" in text:
        return CallOutcome.BUSY
    if code in ("603", "403", "607") or "decline" in text or "reject" in text:
        return CallOutcome.REJECTED
    if code in ("408", "480", "487") or "timeout" in text or "timed out" in text:
        return CallOutcome.NO_ANSWER
    return CallOutcome.FAILED
