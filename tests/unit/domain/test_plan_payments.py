"""What counts towards a plan: applied to the items it covers, from its activation day."""

from __future__ import annotations

from datetime import date

import pytest

from arrears.domain.money import CurrencyMismatch, Money
from arrears.domain.plans import (
    Applied,
    PlanTerms,
    PlanTermsInvalid,
    RepaymentPlan,
    activate,
    paid_towards,
    propose,
)
from arrears.domain.products import Component

PROPOSED = date(2026, 3, 5)
ACTIVE = date(2026, 3, 6)


def cny(x: str) -> Money:
    return Money.of(x, "CNY")


def plan() -> RepaymentPlan:
    terms = PlanTerms(instalments=2, first_due_on=date(2026, 3, 12))
    return activate(propose({Component.principal: cny("1000")}, terms, PROPOSED), ACTIVE)


def test_only_amounts_applied_to_covered_items_from_activation_count() -> None:
    applied = [
        Applied(date(2026, 3, 5), date(2026, 3, 1), cny("10")),  # before activation
        Applied(ACTIVE, date(2026, 3, 1), cny("100")),  # on the activation day: counts
        Applied(date(2026, 3, 9), date(2026, 3, 4), cny("200")),  # covered item: counts
        Applied(date(2026, 3, 9), PROPOSED, cny("400")),  # due on the proposal day: not covered
        Applied(date(2026, 4, 1), date(2026, 4, 1), cny("800")),  # a regular instalment
        Applied(date(2026, 3, 20), date(2026, 2, 1), cny("1.50")),  # after as_of
    ]
    assert paid_towards(plan(), applied, date(2026, 3, 19)) == cny("300")
    assert paid_towards(plan(), applied, date(2026, 3, 20)) == cny("301.50")


def test_a_plan_without_its_dates_or_in_another_currency_is_refused() -> None:
    terms = PlanTerms(instalments=1, first_due_on=date(2026, 3, 12))
    unproposed = activate(propose({Component.principal: cny("10")}, terms), ACTIVE)
    with pytest.raises(PlanTermsInvalid, match="lacks one of those dates"):
        paid_towards(unproposed, [], ACTIVE)
    with pytest.raises(CurrencyMismatch):
        paid_towards(plan(), [Applied(ACTIVE, date(2026, 3, 1), Money.of("1", "USD"))], ACTIVE)
