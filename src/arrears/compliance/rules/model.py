"""What the gate decides about: a candidate outreach, the history it is judged against, and the
decision with every rule consulted. Pure values; the service layer fills them from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum

from arrears.domain.errors import DomainError
from arrears.domain.outcomes import Channel as Channel  # re-exported: the rules speak of it
from arrears.domain.outcomes import Target as Target


class VerdictKind(StrEnum):
    ALLOW = "allow"
    DEFER = "defer"
    BLOCK = "block"


MESSAGE_CHANNELS = frozenset({Channel.SMS, Channel.EMAIL, Channel.PUSH, Channel.LETTER})
VOICE_CHANNELS = frozenset({Channel.CALL, Channel.VOICEMAIL})


Audience = Target  # who the outreach reaches (one definition, in the domain)


class Flag(StrEnum):
    CEASE = "cease"  # the borrower asked for communication to stop
    DISPUTE = "dispute"  # the debt is disputed; collection waits for verification
    BANKRUPTCY = "bankruptcy"
    DECEASED = "deceased"
    INCAPACITATED = "incapacitated"
    VULNERABILITY = "vulnerability"  # handled by a specialist agent, no automated outreach
    BREATHING_SPACE = "breathing_space"  # debt-respite moratorium: no contact until it ends
    ATTORNEY = "attorney"  # represented: speak to the attorney, not the borrower
    COMPLAINT = "complaint"  # a complaint asked for outreach to pause until it is answered


class FlagUnknown(DomainError):
    def __init__(self, text: str) -> None:
        super().__init__(f"unknown borrower flag {text!r}; use one of {', '.join(Flag)}")


def parse_flag(text: str) -> Flag:
    try:
        return Flag(text)
    except ValueError:
        raise FlagUnknown(text) from None


@dataclass(frozen=True, slots=True)
class FlagState:
    flag: Flag
    since: date
    until: date | None = None  # last day the flag holds; None: until lifted

    def holds_on(self, day: date) -> bool:
        return self.since <= day and (self.until is None or day <= self.until)


@dataclass(frozen=True, slots=True)
class Window:
    """A span of local clock time, start included, end excluded (08:00-22:00)."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class Preferences:
    """What the borrower told us: extra hours agreed, hours that do not suit, channels refused."""

    agreed: tuple[Window, ...] = ()
    inconvenient: tuple[Window, ...] = ()
    refused_channels: frozenset[Channel] = frozenset()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One outreach that wants to happen on a business date."""

    case_id: int
    borrower_id: str
    business_date: date
    channel: Channel
    audience: Audience
    target_id: str
    template: str
    timezone: str
    action_id: int | None = None
    step: str = ""
    agent_initiated: bool = False
    # the borrower's reachability
    borrower_phone_status: str = "ok"
    unreachable_on: date | None = None
    # the contact, when audience is contact
    contact_consent: bool = False
    contact_status: str = "active"
    # the text that will be sent or read out, when known (templates, scripts)
    content: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    """Counters over the lender's whole history, as of the candidate's business date.

    Calls still queued for the day count as attempts: they are about to be made.
    """

    connected_calls_today: int = 0  # with the borrower, across all numbers and agencies
    attempts_today_on_number: int = 0  # to the recipient's number
    attempt_days_on_debt: tuple[date, ...] = ()  # one entry per call attempt on the case
    last_conversation_on: date | None = None  # last connected call with the borrower
    third_party_communications: int = 0  # with this contact, ever
    flags: tuple[FlagState, ...] = ()
    opted_out: frozenset[Channel] = frozenset()  # channels the recipient's address opted out of
    preferences: Preferences = field(default_factory=Preferences)
    holidays: frozenset[date] = frozenset()
    # the pack asks for a validation notice and the case's has not been sent yet
    validation_notice_pending: bool = False

    def active_flags(self, day: date) -> tuple[FlagState, ...]:
        return tuple(f for f in self.flags if f.holds_on(day))


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule said no: block, or defer until a moment (UTC-aware)."""

    rule_id: str
    verdict: VerdictKind
    message: str
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Consulted:
    rule_id: str
    violation: Violation | None

    @property
    def verdict(self) -> VerdictKind:
        return VerdictKind.ALLOW if self.violation is None else self.violation.verdict


@dataclass(frozen=True, slots=True)
class Decision:
    """allow (at `at`, which may be later the same business day), defer (to `at`) or block."""

    verdict: VerdictKind
    at: datetime | None
    rule_id: str | None
    reason: str
    consulted: tuple[Consulted, ...]
    pack: str

    @property
    def violations(self) -> tuple[Violation, ...]:
        return tuple(c.violation for c in self.consulted if c.violation is not None)

    def allowed_now(self, now: datetime) -> bool:
        return self.verdict is VerdictKind.ALLOW and self.at is not None and self.at <= now
