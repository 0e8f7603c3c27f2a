"""A rule pack: the data of a jurisdiction (hours, caps, flags, phrases, retention) plus the rules,
each a function that returns a violation as a value, or None when it has nothing against."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import cached_property

from arrears.compliance.rules.model import (
    Candidate,
    Channel,
    Flag,
    History,
    VerdictKind,
    Violation,
    Window,
)
from arrears.domain.errors import DomainError


class FlagEffect(StrEnum):
    BLOCK = "block"  # no outreach at all
    BLOCK_BORROWER = "block_borrower"  # not to the borrower; contacts as the pack allows
    BLOCK_AUTOMATED = "block_automated"  # only an agent may reach out, by hand
    DEFER_UNTIL_END = "defer_until_end"  # nothing until the day after the flag ends


Check = Callable[[Candidate, History, "Pack", datetime], Violation | None]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    check: Check
    # a compliance officer may override the rule for one action (never a legal absolute)
    overridable: bool = True


@dataclass(frozen=True)
class Pack:
    code: str
    title: str
    window: Window
    honours_agreed_hours: bool
    connected_calls_per_day: int | None
    attempts_per_number_per_day: int | None
    attempts_per_debt_7_days: int | None
    quiet_days_after_conversation: int | None
    third_party_channels: frozenset[Channel]
    third_party_once: bool
    flag_effects: Mapping[Flag, FlagEffect]
    holiday_channels: frozenset[Channel]
    holidays: frozenset[date]
    banned_phrases: tuple[str, ...]
    limited_content_channels: frozenset[Channel]
    retention_years: int
    rules: tuple[Rule, ...]
    sources: Mapping[str, str] = field(default_factory=dict)
    # a validation notice (Regulation F §1006.34) goes first; then `validation_period_days`
    # in which a dispute stops collection until the debt is verified
    validation_notice: bool = False
    validation_period_days: int | None = None
    # an external agency a case is placed with receives the borrower's full name and phone
    # (else masked, as an agent sees them); contacts are never shared with it
    agency_identity: bool = False
    # the days within which a complaint is answered (a final response), counted from the day
    # it was received (calendar days; sources in `sources` and docs/complaints.md)
    complaint_response_days: int = 15

    @cached_property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(self.rule_id(r.name) for r in self.rules)

    def rule_id(self, name: str) -> str:
        return f"{self.code}.{name}"

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if self.rule_id(r.name) == rule_id:
                return r
        raise RuleUnknown(rule_id, self)

    def block(self, name: str, message: str) -> Violation:
        return Violation(self.rule_id(name), VerdictKind.BLOCK, message)

    def defer(self, name: str, until: datetime, message: str) -> Violation:
        return Violation(self.rule_id(name), VerdictKind.DEFER, message, until)


class RuleUnknown(DomainError):
    def __init__(self, rule_id: str, pack: Pack) -> None:
        known = ", ".join(pack.rule_id(r.name) for r in pack.rules)
        super().__init__(f"no rule {rule_id!r} in pack {pack.code}; rules are {known}")


class PackUnknown(DomainError):
    def __init__(self, code: str, known: list[str]) -> None:
        super().__init__(f"unknown rule pack {code!r}; use one of {', '.join(known)}")
