"""The plan form's defaults: within the agent's own limit, first instalment on a business day a
week ahead."""

from __future__ import annotations

from datetime import date

import pytest

from arrears.domain.money import Money
from arrears.domain.plans import PlanLimits
from arrears.services.wrapup import next_business_day, plan_defaults


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 6), date(2026, 3, 6)),  # a Friday stays
        (date(2026, 3, 7), date(2026, 3, 9)),  # Saturday → Monday
        (date(2026, 3, 8), date(2026, 3, 9)),  # Sunday → Monday
    ],
)
def test_next_business_day(day: date, expected: date) -> None:
    assert next_business_day(day) == expected


@pytest.mark.parametrize(("limit", "instalments"), [(1, 1), (2, 2), (6, 3)])
def test_defaults_fall_within_the_agent_s_limit(limit: int, instalments: int) -> None:
    form = plan_defaults(date(2026, 3, 1), PlanLimits(limit, Money.zero("CNY")))
    assert form.instalments == instalments
    assert form.first_due_on == date(2026, 3, 9)  # a week from Sunday 1 March is a Sunday
    assert not form.waive_penalty and not form.waive_interest
