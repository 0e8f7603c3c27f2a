"""What happened on a call or message, and what it means for the case."""

from __future__ import annotations

from enum import StrEnum

from arrears.domain.errors import DomainError


class Outcome(StrEnum):
    RIGHT_PARTY = "right_party"  # spoke with the borrower
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    OUT_OF_SERVICE = "out_of_service"
    REFUSED = "refused"  # borrower refused to talk
    CONTACT_REACHED = "contact_reached"
    CONTACT_REFUSED = "contact_refused"  # contact asks never to be called again
    MESSAGE_LEFT = "message_left"
    PROMISE = "promise"
    DISPUTE = "dispute"
    HARDSHIP = "hardship"


class HardshipKind(StrEnum):
    ILLNESS = "illness"
    JOB_LOSS = "job_loss"
    INCOME_DROP = "income_drop"
    BEREAVEMENT = "bereavement"
    DISASTER = "disaster"
    OTHER = "other"


class Target(StrEnum):
    """Who an outreach reaches: the borrower, or one of the contacts they designated. (The one
    definition; the compliance rules and the templates call it their audience.)"""

    BORROWER = "borrower"
    CONTACT = "contact"


class Channel(StrEnum):
    """How an outreach reaches them. (The one definition: strategies, rules, interactions.)"""

    SMS = "sms"
    EMAIL = "email"
    PUSH = "push"
    LETTER = "letter"
    CALL = "call"
    VOICEMAIL = "voicemail"
    TASK = "task"  # an internal agent task (e.g. offer a plan): reaches nobody by itself


FAILED_ATTEMPTS = frozenset(
    {Outcome.NO_ANSWER, Outcome.BUSY, Outcome.WRONG_NUMBER, Outcome.OUT_OF_SERVICE}
)
CONNECTED = frozenset(
    {
        Outcome.RIGHT_PARTY,
        Outcome.REFUSED,
        Outcome.CONTACT_REACHED,
        Outcome.CONTACT_REFUSED,
        Outcome.PROMISE,
        Outcome.DISPUTE,
        Outcome.HARDSHIP,
    }
)
BORROWER_ONLY = frozenset({Outcome.RIGHT_PARTY, Outcome.REFUSED, Outcome.PROMISE, Outcome.DISPUTE})
CONTACT_ONLY = frozenset({Outcome.CONTACT_REACHED, Outcome.CONTACT_REFUSED, Outcome.MESSAGE_LEFT})


class OutcomeInvalid(DomainError):
    pass


def check_outcome(target: Target, outcome: Outcome, hardship: HardshipKind | None) -> None:
    """An outcome must fit who was on the line; hardship needs its kind."""
    if target is Target.CONTACT and outcome in BORROWER_ONLY:
        raise OutcomeInvalid(f"{outcome} is recorded on a borrower call, not a contact call")
    if target is Target.BORROWER and outcome in CONTACT_ONLY:
        raise OutcomeInvalid(f"{outcome} is recorded on a contact call, not a borrower call")
    if outcome is Outcome.HARDSHIP and hardship is None:
        raise OutcomeInvalid("hardship needs its kind: " + ", ".join(HardshipKind))


def makes_borrower_unreachable(target: Target, outcome: Outcome) -> bool:
    """The day's call task to the borrower ended without reaching them."""
    return target is Target.BORROWER and outcome in FAILED_ATTEMPTS
