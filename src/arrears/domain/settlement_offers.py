"""Settlement offers: the borrower pays a share of the balance by a date, the rest is written off.

An offer names the share to pay (70% of the balance is 30% off). What each role may grant alone
is a limit on the discount (`DiscountLimits`); above the proposer's limit the offer waits for a
role whose limit covers it. An approved offer paid in full by its due date settles the case;
one not paid by then (approved or not) lapses. Roles are named by their string value here (the
one `Role` lives with the platform's privacy rules, which the domain does not import).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType

from arrears.domain.errors import DomainError
from arrears.domain.money import Money

HUNDRED = Decimal(100)

# Largest discount, in percent of the balance, each role may grant alone.
DEFAULT_DISCOUNT_LIMITS: Mapping[str, Decimal] = MappingProxyType(
    {"agent": Decimal(10), "team_lead": Decimal(30), "manager": Decimal(50)}
)


class OfferStatus(StrEnum):
    PROPOSED = "proposed"  # above the proposer's limit: waits for approval
    APPROVED = "approved"  # the borrower may pay it until its due date
    SETTLED = "settled"  # paid in full by the due date: the case closed `settled`
    LAPSED = "lapsed"  # the due date passed without the full amount
    CANCELLED = "cancelled"


class SettlementOfferInvalid(DomainError):
    pass


class SettlementApprovalRefused(DomainError):
    pass


class SettlementTransitionInvalid(DomainError):
    pass


@dataclass(frozen=True)
class DiscountLimits:
    """Per role, the largest discount (percent of the balance) it grants without approval."""

    by_role: Mapping[str, Decimal] = field(default_factory=lambda: DEFAULT_DISCOUNT_LIMITS)

    def __post_init__(self) -> None:
        for role, limit in self.by_role.items():
            if not isinstance(limit, Decimal) or not Decimal(0) <= limit <= HUNDRED:
                raise SettlementOfferInvalid(
                    f"discount limit of {role}: {limit!r} is not a percentage from 0 to 100"
                )

    def of(self, role: str) -> Decimal:
        """A role without a limit grants no discount alone."""
        return self.by_role.get(role, Decimal(0))

    def allows(self, role: str, discount_pct: Decimal) -> bool:
        return discount_pct <= self.of(role)

    @classmethod
    def parse(cls, text: str) -> DiscountLimits:
        """`agent=10,team_lead=30,manager=50` (percent off the balance)."""
        limits: dict[str, Decimal] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            role, sep, value = part.partition("=")
            if not sep or not role.strip():
                raise SettlementOfferInvalid(
                    f"discount limit {part!r}: write role=percent, e.g. team_lead=30"
                )
            try:
                limits[role.strip()] = Decimal(value.strip())
            except ArithmeticError:
                raise SettlementOfferInvalid(
                    f"discount limit {part!r}: {value.strip()!r} is not a number"
                ) from None
        return cls(MappingProxyType(limits))


@dataclass(frozen=True)
class OfferTerms:
    pay_pct: Decimal  # share of the balance the borrower pays, 0 < pay_pct <= 100
    due_on: date

    @property
    def discount_pct(self) -> Decimal:
        return HUNDRED - self.pay_pct


@dataclass(frozen=True)
class SettlementOffer:
    balance: Money
    terms: OfferTerms
    proposed_on: date
    proposed_by: str
    proposer_role: str
    status: OfferStatus
    approved_by: str | None = None

    @property
    def amount(self) -> Money:
        """What the borrower pays: the share of the balance, half up to the minor unit."""
        return Money.of(
            self.balance.amount * self.terms.pay_pct / HUNDRED,
            self.balance.currency,
            rounding=ROUND_HALF_UP,
        )

    @property
    def discount(self) -> Money:
        return self.balance - self.amount


def propose(
    balance: Money,
    terms: OfferTerms,
    *,
    on: date,
    by: str,
    role: str,
    limits: DiscountLimits,
) -> SettlementOffer:
    """A new offer: approved at once within the proposer's limit, else proposed."""
    if not balance.amount > 0:
        raise SettlementOfferInvalid(f"nothing to settle: the balance is {balance}")
    if not Decimal(0) < terms.pay_pct <= HUNDRED:
        raise SettlementOfferInvalid(
            f"share to pay {terms.pay_pct}% is not above 0 and at most 100 (write e.g. 70)"
        )
    if terms.due_on < on:
        raise SettlementOfferInvalid(
            f"due date {terms.due_on} is before the offer ({on}); give the borrower time to pay"
        )
    within = limits.allows(role, terms.discount_pct)
    return SettlementOffer(
        balance=balance,
        terms=terms,
        proposed_on=on,
        proposed_by=by,
        proposer_role=role,
        status=OfferStatus.APPROVED if within else OfferStatus.PROPOSED,
        approved_by=by if within else None,
    )


def approve(
    offer: SettlementOffer, *, by: str, role: str, on: date, limits: DiscountLimits
) -> SettlementOffer:
    """proposed → approved, by someone else whose role's limit covers the discount."""
    if offer.status is not OfferStatus.PROPOSED:
        raise SettlementTransitionInvalid(
            f"only a proposed offer is approved; this one is {offer.status}"
        )
    if on > offer.terms.due_on:
        raise SettlementTransitionInvalid(
            f"the offer was due {offer.terms.due_on}; make a new offer instead"
        )
    if by == offer.proposed_by:
        raise SettlementApprovalRefused(
            f"{by} proposed this offer; a second person approves a discount beyond the limit"
        )
    if not limits.allows(role, offer.terms.discount_pct):
        raise SettlementApprovalRefused(
            f"a {role} grants up to {limits.of(role)}% off; this offer is "
            f"{offer.terms.discount_pct}% off and needs a role allowed that much"
        )
    return SettlementOffer(
        balance=offer.balance,
        terms=offer.terms,
        proposed_on=offer.proposed_on,
        proposed_by=offer.proposed_by,
        proposer_role=offer.proposer_role,
        status=OfferStatus.APPROVED,
        approved_by=by,
    )
