"""How money and business dates are written for a person: one function each, per locale.

Every page, template, letter, SMS, e-mail and export that shows an amount to a person calls
`format_money` (or `format_minor` for a stored amount in minor units); nothing else formats
money. The text comes from Babel's CLDR data for the locale: in Chinese "¥1,200.00" for yuan and
"US$1,200.00" for dollars, in English "CN¥1,200.00" and "$1,200.00" — the currency's own number
of decimals (none for yen), the amount exact (it is already in the currency's minor units, so
nothing is rounded here).

Machine formats (the API's JSON, CSV exports for systems) keep the plain decimal amount beside
its currency code: `Money.amount` as text, never this.
"""

from __future__ import annotations

from datetime import date

from babel.numbers import format_currency

from arrears.domain.money import Money

# a language tag as the platform spells it ("zh", "zh-CN", "en", "en-GB") -> a CLDR locale
_LOCALES = {"zh": "zh_CN", "en": "en"}


def locale_of(language: str) -> str:
    """The CLDR locale of a language tag; Chinese unless the tag says English."""
    return _LOCALES["en" if language.lower().startswith("en") else "zh"]


def format_money(money: Money, language: str) -> str:
    """`¥1,200.00` (zh) / `CN¥1,200.00` (en): the amount with its currency, for a person."""
    return format_currency(money.amount, money.currency, locale=locale_of(language))


def format_minor(minor: int, currency: str, language: str) -> str:
    """A stored amount (integer minor units of `currency`) written for a person."""
    return format_money(Money.from_minor(int(minor), currency), language)


def format_day(day: date | str, language: str) -> str:
    """A business date: `2026年3月2日` (zh) / `2 Mar 2026` (en)."""
    if isinstance(day, str):
        day = date.fromisoformat(day[:10])
    if locale_of(language) == "zh_CN":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def plain_amount(minor: int, currency: str) -> str:
    """A stored amount as the plain decimal machines read (`"1045.00"`; `"1200"` for yen):
    the API's JSON, webhook payloads and exports — always beside its currency code."""
    return str(Money.from_minor(int(minor), currency).amount)
