"""The legal stage: a case referred to the lender's legal team moves through a fixed path

    referred -> demand_letter_sent -> filed -> judgment -> enforcement -> closed

and may be withdrawn (returned to ordinary collection) before a judgment. `closed` ends the legal
stage from a sent letter on (the debt paid or settled, the court's process done); `closed` and
`withdrawn` are final. While a case is in legal (any status but the two final ones) the lender's
ordinary automated outreach for it stops. Pure: the service records who moved it and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType

from arrears.domain.errors import DomainError


class LegalStatus(StrEnum):
    REFERRED = "referred"
    DEMAND_LETTER_SENT = "demand_letter_sent"
    FILED = "filed"
    JUDGMENT = "judgment"
    ENFORCEMENT = "enforcement"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class LegalDocumentKind(StrEnum):
    DEMAND_LETTER = "demand_letter"


S = LegalStatus
NEXT: Mapping[LegalStatus, frozenset[LegalStatus]] = MappingProxyType(
    {
        S.REFERRED: frozenset({S.DEMAND_LETTER_SENT, S.WITHDRAWN}),
        S.DEMAND_LETTER_SENT: frozenset({S.FILED, S.CLOSED, S.WITHDRAWN}),
        S.FILED: frozenset({S.JUDGMENT, S.CLOSED, S.WITHDRAWN}),
        S.JUDGMENT: frozenset({S.ENFORCEMENT, S.CLOSED}),
        S.ENFORCEMENT: frozenset({S.CLOSED}),
        S.CLOSED: frozenset(),
        S.WITHDRAWN: frozenset(),
    }
)
FINAL = frozenset({S.CLOSED, S.WITHDRAWN})
# the order statuses are shown in
ORDER: tuple[LegalStatus, ...] = tuple(LegalStatus)

# a demand letter gives the borrower this many days to pay before the lender files
DEMAND_DAYS = 14


class LegalTransitionInvalid(DomainError):
    def __init__(self, current: LegalStatus, wanted: LegalStatus) -> None:
        allowed = sorted(NEXT[current], key=ORDER.index)
        nxt = ", ".join(allowed) if allowed else "nothing (it is final)"
        super().__init__(
            f"a legal case that is {current} cannot move to {wanted}; from {current} it may "
            f"move to {nxt}"
        )
        self.current, self.wanted = current, wanted


class LegalStatusUnknown(DomainError):
    def __init__(self, text: str) -> None:
        super().__init__(f"{text!r} is not a legal status; use one of {', '.join(LegalStatus)}")


def parse_status(text: str) -> LegalStatus:
    try:
        return LegalStatus(text.strip().lower())
    except ValueError:
        raise LegalStatusUnknown(text) from None


def advance(current: LegalStatus, wanted: LegalStatus) -> LegalStatus:
    """The status after the move, or LegalTransitionInvalid naming what is allowed."""
    if wanted not in NEXT[current]:
        raise LegalTransitionInvalid(current, wanted)
    return wanted


def in_legal(status: LegalStatus) -> bool:
    """Whether the case is with the legal team (the lender's own outreach stopped)."""
    return status not in FINAL


def demand_deadline(sent_on: date, days: int = DEMAND_DAYS) -> date:
    """The day by which a demand letter sent on `sent_on` asks to be paid."""
    if days < 1:
        raise DomainError(f"a demand letter gives at least one day to pay, not {days}")
    return sent_on + timedelta(days=days)
