"""Statistics of the experiment report, against values computed by hand."""

from __future__ import annotations

import math

import pytest

from arrears.analytics.experiments import (
    mean_estimate,
    normal_p,
    ratio_estimate,
    two_proportions,
    wilson,
)


def test_wilson_interval() -> None:
    e = wilson(45, 100)
    assert e.value == 0.45
    assert e.low == pytest.approx(0.3561, abs=1e-4)
    assert e.high == pytest.approx(0.5476, abs=1e-4)
    assert wilson(0, 0).value is None
    assert wilson(0, 10).low == 0.0


def test_two_proportion_test() -> None:
    diff, low, high, p = two_proportions(45, 100, 60, 100) or (0, 0, 0, 0)
    assert diff == pytest.approx(0.15)
    pooled = 105 / 200
    z = 0.15 / math.sqrt(pooled * (1 - pooled) * 0.02)
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert p == pytest.approx(0.0339, abs=1e-3)
    assert low < diff < high
    assert two_proportions(1, 0, 1, 1) is None


def test_normal_p_value() -> None:
    assert normal_p(1.959963984540054) == pytest.approx(0.05)
    assert normal_p(0) == 1.0


def test_mean_and_ratio_estimates() -> None:
    est, se2 = mean_estimate([1, 2, 3, 4])
    assert est.value == 2.5 and se2 == pytest.approx((5 / 3) / 4)
    r, _ = ratio_estimate([50, 0, 100], [100, 100, 100])
    assert r.value == pytest.approx(0.5)
    assert r.low is not None and r.low < 0.5 < (r.high or 0)


def test_a_difference_of_shares_has_its_interval_within_plus_minus_one() -> None:
    diff, low, high, _ = two_proportions(3, 4, 1, 4) or (0, 0, 0, 0)
    assert diff == pytest.approx(-0.5)
    assert low == -1.0 and -0.5 < high <= 1.0


def test_the_rendered_report_has_a_column_per_variant_and_names_what_it_left_out() -> None:
    from datetime import date

    from arrears.analytics.experiments import (
        CaseOutcome,
        ExperimentReport,
        compare,
        render,
        summarise,
    )

    day = date(2026, 10, 30)
    outcomes = [
        CaseOutcome(i, "champion" if i % 2 else "challenger", date(2026, 9, 1), "cured",
                    date(2026, 9, 5), 1000, 1000 if i % 3 else 0, 3, 1, 1, i % 2)
        for i in range(1, 41)
    ]  # fmt: skip
    champion = summarise(outcomes, day, "champion", 50)
    challenger = summarise(outcomes, day, "challenger", 50)
    text = render(ExperimentReport("exp", day, [champion, challenger],
                                   compare(champion, challenger), pinned=1))  # fmt: skip
    lines = text.splitlines()
    assert next(x for x in lines if x.startswith("cases ")).split()[1:] == ["20", "20"]
    assert "1 case pinned to a variant is left out" in text
    kept = next(x for x in lines if x.strip().startswith("promises kept in full") and "p =" in x)
    assert "-100.0%" in kept and "significant" in kept
