"""A strategy: segments, steps (trigger + condition + actions) and variants. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from arrears.domain.outcomes import Channel as Channel  # re-exported: one definition
from arrears.domain.strategy.expr import Node
from arrears.domain.strategy.variants import Variant


class Event(StrEnum):
    DPD = "dpd"  # the case's DPD is one of the listed days
    CASE_OPENED = "case_opened"  # the case opened on the date (the first delinquent day)
    BORROWER_UNREACHABLE = "borrower_unreachable"  # the borrower proved unreachable today
    PROMISE_DUE = "promise_due"  # an open promise falls due in N days
    PROMISE_BROKEN = "promise_broken"  # a promise was settled broken today
    PLAN_INSTALMENT_DUE = "plan_instalment_due"  # a pending instalment of the active plan in N days
    PLAN_INSTALMENT_MISSED = (
        "plan_instalment_missed"  # an instalment of the active plan unpaid N days after its date
    )
    DAILY = "daily"  # every day the condition holds


# the default of `days` for the events that take one
EVENT_DAYS: dict[Event, int] = {
    Event.PROMISE_DUE: 1,
    Event.PLAN_INSTALMENT_DUE: 3,
    Event.PLAN_INSTALMENT_MISSED: 1,
}


class Addressees(StrEnum):
    """Whom a step's action addresses: the borrower, or every contact (each planned outreach
    then has one `outcomes.Target`, borrower or contact — this is not a second Target)."""

    BORROWER = "borrower"
    CONTACTS = "contacts"  # every designated contact with consent and status active


@dataclass(frozen=True)
class Trigger:
    event: Event
    days: tuple[int, ...] = ()  # DPD values, or days before / after for dated events

    def describe(self) -> str:
        if self.event is Event.DPD:
            return f"dpd in {list(self.days)}"
        if self.days:
            n = self.days[0]
            unit = "day" if n == 1 else "days"
            when = (
                f"{n} {unit} ago"
                if self.event is Event.PLAN_INSTALMENT_MISSED
                else f"in {n} {unit}"
            )
            return f"{self.event.value} {when}"
        return self.event.value


@dataclass(frozen=True)
class Action:
    channel: Channel
    template: str
    target: Addressees = Addressees.BORROWER
    priority: int = 50
    queue: str | None = None


@dataclass(frozen=True)
class Segment:
    name: str
    when: Node
    source: str = "true"
    queue: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Step:
    name: str
    trigger: Trigger
    when: Node
    actions: tuple[Action, ...]
    source: str = "true"
    segments: tuple[str, ...] = ()  # empty: every segment
    variants: tuple[str, ...] = ()  # empty: every variant
    line: int = 0


@dataclass(frozen=True)
class Strategy:
    name: str
    version: int
    currency: str
    salt: str
    variants: tuple[Variant, ...]
    segments: tuple[Segment, ...]
    steps: tuple[Step, ...]
    description: str = ""

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)
