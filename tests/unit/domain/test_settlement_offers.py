"""Settlement offers: the share paid and the discount make the balance to the minor unit; what
each role grants alone, and who approves the rest."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.domain.money import MINOR_UNITS, Money
from arrears.domain.settlement_offers import (
    DiscountLimits,
    OfferStatus,
    OfferTerms,
    SettlementApprovalRefused,
    SettlementOfferInvalid,
    SettlementTransitionInvalid,
    approve,
    propose,
)

ON = date(2026, 3, 1)
DUE = date(2026, 3, 15)
LIMITS = DiscountLimits()


def _offer(pct: str, role: str = "agent", balance: str = "5000.00"):  # type: ignore[no-untyped-def]
    return propose(
        Money.of(balance, "CNY"),
        OfferTerms(pay_pct=Decimal(pct), due_on=DUE),
        on=ON,
        by="wang",
        role=role,
        limits=LIMITS,
    )


@given(
    minor=st.integers(1, 10**12),
    currency=st.sampled_from(["CNY", "JPY", "BHD", "CLF"]),
    pct=st.decimals(min_value="0.0001", max_value=100, places=4),
)
def test_amount_and_discount_make_the_balance_exactly(
    minor: int, currency: str, pct: Decimal
) -> None:
    balance = Money.from_minor(minor, currency)
    offer = propose(balance, OfferTerms(pct, DUE), on=ON, by="m", role="manager", limits=LIMITS)
    assert offer.amount + offer.discount == balance
    assert offer.amount.amount == offer.amount.amount.quantize(
        Decimal(1).scaleb(-MINOR_UNITS[currency])
    )
    assert Money.zero(currency) <= offer.amount <= balance


def test_seventy_percent_is_thirty_off_and_rounds_half_up() -> None:
    offer = _offer("70", balance="1000.05")
    assert offer.amount == Money.of("700.04", "CNY")  # 700.035 half up
    assert offer.discount == Money.of("300.01", "CNY")
    assert offer.terms.discount_pct == Decimal(30)


@pytest.mark.parametrize(
    ("role", "pct", "status"),
    [
        ("agent", "90", OfferStatus.APPROVED),  # 10% off: the agent's limit
        ("agent", "89.99", OfferStatus.PROPOSED),
        ("team_lead", "70", OfferStatus.APPROVED),
        ("team_lead", "69", OfferStatus.PROPOSED),
        ("manager", "50", OfferStatus.APPROVED),
        ("manager", "49", OfferStatus.PROPOSED),
        ("compliance", "99", OfferStatus.PROPOSED),  # no limit: no discount alone
    ],
)
def test_what_each_role_grants_alone(role: str, pct: str, status: OfferStatus) -> None:
    assert _offer(pct, role).status is status


def test_beyond_the_limit_a_second_person_whose_role_allows_it_approves() -> None:
    offer = _offer("70")
    for by, role in (("wang", "team_lead"), ("sun", "agent")):
        with pytest.raises(SettlementApprovalRefused):
            approve(offer, by=by, role=role, on=ON, limits=LIMITS)
    approved = approve(offer, by="chen", role="team_lead", on=ON, limits=LIMITS)
    assert (approved.status, approved.approved_by) == (OfferStatus.APPROVED, "chen")
    with pytest.raises(SettlementTransitionInvalid):
        approve(approved, by="li", role="manager", on=ON, limits=LIMITS)
    with pytest.raises(SettlementTransitionInvalid, match="make a new offer"):
        approve(offer, by="chen", role="team_lead", on=date(2026, 3, 16), limits=LIMITS)


@pytest.mark.parametrize(
    ("pct", "balance", "due", "message"),
    [
        ("0", "100.00", DUE, "above 0"),
        ("100.5", "100.00", DUE, "at most 100"),
        ("70", "0.00", DUE, "nothing to settle"),
        ("70", "100.00", date(2026, 2, 28), "before the offer"),
    ],
)
def test_a_bad_offer_says_what_is_wrong(pct: str, balance: str, due: date, message: str) -> None:
    with pytest.raises(SettlementOfferInvalid, match=message):
        propose(
            Money.of(balance, "CNY"),
            OfferTerms(Decimal(pct), due),
            on=ON,
            by="wang",
            role="agent",
            limits=LIMITS,
        )


def test_limits_are_the_lenders_own() -> None:
    limits = DiscountLimits.parse("agent=5, team_lead=40")
    assert (limits.of("agent"), limits.of("team_lead"), limits.of("manager")) == (
        Decimal(5),
        Decimal(40),
        Decimal(0),
    )
    for bad, message in (
        ("agent", "role=percent"),
        ("agent=x", "not a number"),
        ("agent=120", "0 to 100"),
    ):
        with pytest.raises(SettlementOfferInvalid, match=message):
            DiscountLimits.parse(bad)
