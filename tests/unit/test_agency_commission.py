"""Commission arithmetic: the tier a payment falls in, each payment's commission rounded
half-up to the minor unit, and the month's lines as the sum of those (Hypothesis)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.services.agencies import Tier
from arrears.services.agency_commission import (
    MonthInvalid,
    Recovered,
    commission_of,
    lines,
    month_span,
    tier_for,
)

TIERS = (Tier(0, Decimal("0.15")), Tier(120, Decimal("0.20")), Tier(180, Decimal("0.25")))


@pytest.mark.parametrize(
    ("days", "start"), [(0, 0), (90, 0), (119, 0), (120, 120), (179, 120), (180, 180), (999, 180)]
)
def test_a_payment_falls_in_the_tier_started_last(days: int, start: int) -> None:
    assert tier_for(TIERS, days).from_days == start


@pytest.mark.parametrize(
    ("amount", "currency", "rate", "expected"),
    [
        (12_345, "CNY", "0.15", 1_852),  # 18.5175 -> 18.52
        (10, "CNY", "0.15", 2),  # 0.015 -> 0.02: half-up, not half-even
        (30, "CNY", "0.15", 5),  # 0.045 -> 0.05
        (333, "JPY", "0.15", 50),  # 49.95 yen -> 50, no minor unit
        (1_001, "KWD", "0.125", 125),  # 1.001 KWD * 12.5 % = 0.125125 -> 0.125
    ],
)
def test_each_commission_is_rounded_half_up(
    amount: int, currency: str, rate: str, expected: int
) -> None:
    assert commission_of(amount, currency, Tier(0, Decimal(rate))) == expected


def test_months_are_named_yyyy_mm() -> None:
    assert month_span("2026-11") == (date(2026, 11, 1), date(2026, 11, 30))
    assert month_span("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))
    assert month_span("2028-02")[1] == date(2028, 2, 29)
    for bad in ("2026-13", "11/2026", "2026-1", ""):
        with pytest.raises(MonthInvalid, match="YYYY-MM"):
            month_span(bad)


payment = st.builds(
    Recovered,
    agency_id=st.sampled_from(["north", "south"]),
    case_id=st.integers(1, 5),
    payment_id=st.uuids().map(str),
    received_on=st.just(date(2026, 11, 2)),
    days=st.integers(0, 400),
    amount=st.integers(1, 10**9),
    currency=st.sampled_from(["CNY", "JPY", "USD"]),
)


@given(st.lists(payment, max_size=30))
def test_lines_add_up_to_each_payments_commission(paid: list[Recovered]) -> None:
    out = lines(paid, {"north": TIERS, "south": (Tier(0, Decimal("0.30")),)})
    assert sum(x.payments for x in out) == len(paid)
    assert sum(x.recovered for x in out) == sum(p.amount for p in paid)
    for x in out:
        mine = [
            p
            for p in paid
            if (p.agency_id, p.currency) == (x.agency_id, x.currency)
            and tier_for(TIERS if p.agency_id == "north" else (x.tier,), p.days) == x.tier
        ]
        assert x.recovered == sum(p.amount for p in mine)
        assert x.commission == sum(commission_of(p.amount, p.currency, x.tier) for p in mine)
        # per-payment rounding stays within half a minor unit per payment of the exact figure
        exact = Decimal(x.recovered) * x.tier.rate
        assert abs(Decimal(x.commission) - exact) <= Decimal(x.payments) / 2
        assert x.commission <= (exact + x.payments).to_integral_value(ROUND_HALF_UP)
