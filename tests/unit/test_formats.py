"""One money formatter per locale: every amount a person reads is written the same way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from arrears.domain.money import Money
from arrears.formats import format_day, format_minor, format_money


@pytest.mark.parametrize(
    ("minor", "currency", "language", "text"),
    [
        (120000, "CNY", "zh-CN", "¥1,200.00"),
        (120000, "CNY", "zh", "¥1,200.00"),
        (120000, "CNY", "en", "CN¥1,200.00"),
        (120000, "USD", "en", "$1,200.00"),
        (120000, "USD", "zh-CN", "US$1,200.00"),
        (120000, "GBP", "en-GB", "£1,200.00"),
        # yen has no minor unit: 1200 stored is ¥1,200, not ¥12.00
        (1200, "JPY", "en", "¥1,200"),
        (5, "CNY", "zh-CN", "¥0.05"),
        (-150, "CNY", "zh-CN", "-¥1.50"),
    ],
)
def test_an_amount_reads_the_same_wherever_it_is_shown(
    minor: int, currency: str, language: str, text: str
) -> None:
    assert format_minor(minor, currency, language) == text


def test_the_formatter_never_rounds_a_stored_amount() -> None:
    # 0.005 is not a yuan amount (Money refuses nothing here: from_minor is exact)
    assert format_money(Money(Decimal("1234.56"), "CNY"), "zh-CN") == "¥1,234.56"
    assert format_money(Money.of("999999999999.99", "CNY"), "en") == "CN¥999,999,999,999.99"


def test_the_old_spellings_are_gone() -> None:
    # "1,200.00元" and "CNY 1,200.00" used to reach the same borrower from two formatters
    assert format_minor(120000, "CNY", "zh-CN") != "1,200.00元"
    assert format_minor(120000, "CNY", "en") != "CNY 1,200.00"


def test_every_edge_formats_money_through_the_one_function() -> None:
    from arrears.web.i18n import fmt_minor

    assert fmt_minor(120000, "CNY", "zh") == format_minor(120000, "CNY", "zh-CN")
    assert fmt_minor(1200, "JPY", "en") == "¥1,200"


@pytest.mark.parametrize(
    ("language", "text"), [("zh-CN", "2026年3月2日"), ("zh", "2026年3月2日"), ("en", "2 Mar 2026")]
)
def test_a_business_date_reads_the_same_wherever_it_is_shown(language: str, text: str) -> None:
    assert format_day(date(2026, 3, 2), language) == text
    assert format_day("2026-03-02", language) == text


def test_machines_get_the_plain_decimal_in_the_currencys_own_units() -> None:
    from arrears.formats import plain_amount

    assert plain_amount(104500, "CNY") == "1045.00"
    # yen has no minor unit: an export says 1200, not 1200.00 (nor 12.00)
    assert plain_amount(1200, "JPY") == "1200"
