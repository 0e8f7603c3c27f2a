"""DPD, buckets, overdue and outstanding: boundaries, tolerance, and properties over time."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.domain.allocation import Waterfall, allocate
from arrears.domain.delinquency import (
    DEFAULT_BUCKETS,
    BucketRange,
    BucketScheme,
    BucketSchemeInvalid,
    DelinquencyInputInvalid,
    assess,
    default_tolerance,
    plan_days_past_due,
)
from arrears.domain.money import MINOR_UNITS, CurrencyMismatch, Money
from arrears.domain.plans import InstalmentStatus, PlanInstalment
from arrears.domain.products import Component, DueItem
from tests.unit.domain.strategies import account_items, as_of_dates

DUE = date(2024, 3, 10)


def cny(text: str) -> Money:
    return Money.of(text, "CNY")


def one_item(unpaid: str = "100", due_on: date = DUE, seq: int = 1) -> DueItem:
    return DueItem(seq, due_on, cny(unpaid))


@pytest.mark.parametrize(
    ("days_after_due", "dpd", "bucket"),
    [
        (-1, 0, "M0"),
        (0, 0, "M0"),  # due today: not yet overdue
        (1, 1, "M1"),
        (30, 30, "M1"),
        (31, 31, "M2"),
        (60, 60, "M2"),
        (61, 61, "M3"),
        (90, 90, "M3"),
        (91, 91, "M4"),
        (120, 120, "M4"),
        (121, 121, "M5"),
        (150, 150, "M5"),
        (151, 151, "M6"),
        (180, 180, "M6"),
        (181, 181, "M7+"),
        (1000, 1000, "M7+"),
    ],
)
def test_dpd_and_bucket_boundaries(days_after_due: int, dpd: int, bucket: str) -> None:
    result = assess([one_item()], DUE + timedelta(days=days_after_due))
    assert (result.dpd, result.bucket) == (dpd, bucket)
    assert result.delinquent is (dpd > 0)
    assert result.outstanding == cny("100")
    assert result.overdue == (cny("100") if days_after_due >= 1 else cny("0"))


@pytest.mark.parametrize(
    ("unpaid", "dpd"),
    [("0.99", 0), ("1.00", 0), ("1.01", 5)],
)
def test_default_tolerance_is_one_major_unit(unpaid: str, dpd: int) -> None:
    result = assess([one_item(unpaid)], DUE + timedelta(days=5))
    assert result.dpd == dpd
    assert result.overdue == cny(unpaid)  # the amount is still reported


@pytest.mark.parametrize(("unpaid", "dpd"), [(1, 0), (2, 3)])
def test_tolerance_of_a_currency_without_minor_units(unpaid: int, dpd: int) -> None:
    item = DueItem(1, DUE, Money.of(unpaid, "JPY"))
    assert assess([item], DUE + timedelta(days=3)).dpd == dpd


def test_tolerance_can_be_set_and_zero_means_every_cent_counts() -> None:
    assert assess([one_item("0.01")], DUE + timedelta(days=2), tolerance=cny("0")).dpd == 2
    assert assess([one_item("50")], DUE + timedelta(days=2), tolerance=cny("50")).dpd == 0


def test_dpd_counts_from_the_oldest_unpaid_overdue_item() -> None:
    items = [
        DueItem(1, date(2024, 1, 10), cny("100"), paid_principal=cny("100")),
        one_item("100", date(2024, 2, 10), 2),
        one_item("100", date(2024, 3, 10), 3),
        one_item("100", date(2024, 4, 10), 4),
    ]
    result = assess(items, date(2024, 3, 20))
    assert (result.dpd, result.bucket) == (39, "M2")
    assert result.oldest_overdue_on == date(2024, 2, 10)
    assert result.overdue == cny("200")
    assert result.outstanding == cny("300")


def test_several_small_residues_add_up_beyond_the_tolerance() -> None:
    items = [one_item("0.60", date(2024, 1, 10), 1), one_item("0.60", date(2024, 2, 10), 2)]
    result = assess(items, date(2024, 2, 15))
    # 0.60 alone is within tolerance; 1.20 is not, reached at the second item
    assert (result.dpd, result.oldest_overdue_on) == (5, date(2024, 2, 10))


def test_an_old_residue_within_tolerance_does_not_age_a_new_miss() -> None:
    items = [one_item("0.50", date(2024, 1, 10), 1), one_item("100", date(2024, 3, 10), 2)]
    assert assess(items, date(2024, 3, 10)).dpd == 0
    assert assess(items, date(2024, 3, 11)).dpd == 1  # not 61: the residue is tolerated


def test_waived_amounts_are_not_overdue() -> None:
    item = DueItem(1, DUE, cny("100"), penalty=cny("30"), paid_principal=cny("100"))
    assert assess([item], DUE + timedelta(days=10)).dpd == 10
    assert assess([item.with_waived(Component.penalty)], DUE + timedelta(days=10)).dpd == 0


def test_a_custom_scheme() -> None:
    scheme = BucketScheme.from_upper_bounds([30, 60, 90])
    assert [scheme.bucket_of(d) for d in (0, 1, 30, 31, 90, 91)] == [
        "M0", "M1", "M1", "M2", "M3", "M4+",
    ]  # fmt: skip
    assert scheme.ranges()[-1] == BucketRange("M4+", 91, None)
    result = assess([one_item()], DUE + timedelta(days=95), buckets=scheme)
    assert result.bucket == "M4+"


def test_default_scheme_ranges() -> None:
    assert [(r.label, r.low, r.high) for r in DEFAULT_BUCKETS.ranges()] == [
        ("M0", 0, 0),
        ("M1", 1, 30),
        ("M2", 31, 60),
        ("M3", 61, 90),
        ("M4", 91, 120),
        ("M5", 121, 150),
        ("M6", 151, 180),
        ("M7+", 181, None),
    ]


@pytest.mark.parametrize("bounds", [[], [0, 30], [30, 30], [60, 30], [-1]])
def test_bad_schemes_are_refused(bounds: list[int]) -> None:
    with pytest.raises(BucketSchemeInvalid):
        BucketScheme.from_upper_bounds(bounds)


def test_negative_dpd_has_no_bucket() -> None:
    with pytest.raises(DelinquencyInputInvalid):
        DEFAULT_BUCKETS.bucket_of(-1)


def test_an_account_without_items_needs_a_currency() -> None:
    with pytest.raises(DelinquencyInputInvalid, match="tolerance="):
        assess([], DUE)
    empty = assess([], DUE, tolerance=cny("1"))
    assert (empty.dpd, empty.overdue, empty.outstanding) == (0, cny("0"), cny("0"))


def test_mixed_currencies_are_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        assess([one_item(), DueItem(2, DUE, Money.of(5, "USD"))], DUE)
    with pytest.raises(CurrencyMismatch):
        assess([one_item()], DUE, tolerance=Money.of(1, "USD"))


def _inst(seq: int, due_on: date, amount: str, paid: str) -> PlanInstalment:
    status = InstalmentStatus.paid if paid == amount else InstalmentStatus.pending
    return PlanInstalment(seq, due_on, cny(amount), cny(paid), status)


def test_plan_dpd_is_that_of_the_oldest_unpaid_instalment_due_before_as_of() -> None:
    plan = [
        _inst(1, date(2024, 5, 1), "100", "100"),
        _inst(2, date(2024, 6, 1), "100", "40"),
        _inst(3, date(2024, 7, 1), "100", "0"),
    ]
    assert plan_days_past_due(plan, date(2024, 6, 1)) == 0  # due today
    assert plan_days_past_due(plan, date(2024, 6, 2)) == 1
    assert plan_days_past_due(plan, date(2024, 7, 5)) == 34
    assert plan_days_past_due(plan[:1], date(2024, 7, 5)) == 0
    assert plan_days_past_due([], date(2024, 7, 5)) == 0


# --- properties -------------------------------------------------------------------------


@settings(deadline=None)
@given(account_items(), as_of_dates())
def test_dpd_is_zero_exactly_when_overdue_is_within_tolerance(
    items: list[DueItem], as_of: date
) -> None:
    result = assess(items, as_of)
    assert (result.dpd == 0) == (result.overdue <= cny("1"))
    assert result.bucket == DEFAULT_BUCKETS.bucket_of(result.dpd)


@settings(deadline=None)
@given(account_items(), as_of_dates())
def test_without_tolerance_dpd_is_the_age_of_the_oldest_unpaid_overdue_item(
    items: list[DueItem], as_of: date
) -> None:
    unpaid = [i.due_on for i in items if i.due_on < as_of and not i.is_settled()]
    expected = (as_of - min(unpaid)).days if unpaid else 0
    assert assess(items, as_of, tolerance=cny("0")).dpd == expected


@settings(deadline=None)
@given(account_items(), as_of_dates(), st.sampled_from([None, cny("0"), cny("5")]))
def test_without_a_payment_dpd_only_moves_one_day_at_a_time(
    items: list[DueItem], day: date, tolerance: Money | None
) -> None:
    today = assess(items, day, tolerance).dpd
    tomorrow = assess(items, day + timedelta(days=1), tolerance).dpd
    if today == 0:
        assert tomorrow in (0, 1)
    else:
        assert tomorrow == today + 1


@settings(deadline=None)
@given(
    account_items(),
    as_of_dates(),
    st.integers(min_value=1, max_value=200_000),
    st.sampled_from(list(Waterfall)),
)
def test_a_payment_never_raises_dpd(
    items: list[DueItem], day: date, minor: int, waterfall: Waterfall
) -> None:
    before = assess(items, day)
    after_items = allocate(items, Money.from_minor(minor, "CNY"), waterfall, day).items
    after = assess(after_items, day)
    assert after.dpd <= before.dpd
    assert after.overdue <= before.overdue


@settings(deadline=None)
@given(account_items(), as_of_dates(), st.data())
def test_paying_any_component_of_any_item_never_raises_dpd(
    items: list[DueItem], day: date, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(items) - 1))
    component = data.draw(st.sampled_from(list(Component)))
    item = items[index]
    share = data.draw(st.integers(0, item.outstanding_of(component).to_minor()))
    paid = list(items)
    paid[index] = item.with_paid(component, Money.from_minor(share, "CNY"))
    assert assess(paid, day).dpd <= assess(items, day).dpd


@settings(deadline=None)
@given(account_items(), as_of_dates(), st.randoms(use_true_random=False))
def test_the_order_items_come_in_does_not_matter(
    items: list[DueItem], day: date, rnd: object
) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert assess(shuffled, day) == assess(items, day)


def test_the_daily_run_uses_the_same_buckets_tolerance_and_cap() -> None:
    from arrears.domain.penalty import DEFAULT_CAP, rate_to_ppm
    from arrears.engine.config import RunConfig

    config = RunConfig()
    ranges = DEFAULT_BUCKETS.ranges()
    assert [(label, bound) for label, bound in config.bucket_bounds] == [
        (r.label, r.high) for r in ranges[:-1]
    ]
    assert config.overflow_bucket == ranges[-1].label
    assert dict(config.tolerance) == {
        currency: default_tolerance(currency).to_minor() for currency in MINOR_UNITS
    }
    assert (config.tolerance_of("CNY"), config.tolerance_of("JPY")) == (100, 1)
    assert config.penalty_cap_ppm == rate_to_ppm(DEFAULT_CAP)


def test_the_daily_run_tolerance_follows_the_currencies_booked() -> None:
    from arrears.engine.config import RunConfig

    # every ISO 4217 currency, three- and four-decimal ones included, without registering any
    assert RunConfig().tolerance_of("KWD") == default_tolerance("KWD").to_minor() == 1000
    assert RunConfig().tolerance_of("BHD") == 1000
    assert RunConfig().tolerance_of("TWD") == 100
    assert RunConfig().tolerance_of("CLF") == 10_000


def test_the_daily_run_tolerance_can_be_set_per_currency() -> None:
    from arrears.engine.config import RunConfig

    config = RunConfig(tolerance={"JPY": 100, "CNY": 0})
    assert (config.tolerance_of("JPY"), config.tolerance_of("CNY")) == (100, 0)
    assert config.tolerance_of("KRW") == 1  # the others keep one major unit
    assert config.tolerance_of("XYZ") == 0  # a code without one: every minor unit counts
    assert config.tolerance_values() == [0, 1, 100, 1000, 10_000]  # 3- and 4-decimal ones too


@pytest.mark.parametrize(
    "tolerance", [{"JPY": -1}, {"JPY": 1.5}, {"CNY": True}, {"cny": 100}, {"CN'Y": 100}]
)
def test_the_daily_run_refuses_a_tolerance_that_is_not_minor_units(
    tolerance: dict[str, object],
) -> None:
    from arrears.engine.config import RunConfig

    with pytest.raises(ValueError, match="tolerance"):
        RunConfig(tolerance=tolerance)  # type: ignore[arg-type]
