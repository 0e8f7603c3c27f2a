"""The host-extract formats: which files, which columns, and how each field is read.

Every reader takes the cell text (already stripped) and returns the stored value or raises
`FieldInvalid` with a message that says what is wrong and how to write it instead. The column
lists here are the single source for `docs/formats.md`.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache, lru_cache

from arrears.compliance.loading import JurisdictionInvalid, parse_jurisdiction
from arrears.domain.allocation import Waterfall
from arrears.domain.errors import DomainError
from arrears.domain.money import MINOR_UNITS, Money, minor_units
from arrears.domain.phone import normalise_phone
from arrears.domain.products import Product


class FieldInvalid(ValueError):
    """One cell cannot be read; the message is shown after `file:line: column:`."""


class ExtractFile(StrEnum):
    """The host extracts, in the order they are validated and written."""

    borrowers = "borrowers.csv"
    contacts = "contacts.csv"
    accounts = "accounts.csv"
    due_items = "due_items.csv"
    payments = "payments.csv"


@dataclass(frozen=True)
class FileSpec:
    file: ExtractFile
    key: tuple[str, ...]  # the columns that identify a row (upsert key)
    required: tuple[str, ...]  # columns the header must have
    optional: tuple[str, ...] = ()  # columns the header may have
    may_be_empty: frozenset[str] = frozenset()  # columns whose cells may be blank

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


SPECS: dict[ExtractFile, FileSpec] = {
    ExtractFile.borrowers: FileSpec(
        ExtractFile.borrowers,
        key=("borrower_id",),
        required=("borrower_id", "name", "phone", "email", "timezone", "language"),
        optional=("region", "risk_score", "id_number", "address", "jurisdiction"),
        may_be_empty=frozenset(
            {"email", "region", "risk_score", "id_number", "address", "jurisdiction"}
        ),
    ),
    ExtractFile.contacts: FileSpec(
        ExtractFile.contacts,
        key=("contact_id",),
        required=("contact_id", "borrower_id", "name", "relationship", "phone", "consent"),
    ),
    ExtractFile.accounts: FileSpec(
        ExtractFile.accounts,
        key=("account_id",),
        required=(
            "account_id",
            "borrower_id",
            "product",
            "currency",
            "principal",
            "annual_rate",
            "penalty_rate",
            "opened_on",
        ),
        optional=("waterfall", "disputed_on"),
        may_be_empty=frozenset({"waterfall", "disputed_on"}),
    ),
    ExtractFile.due_items: FileSpec(
        ExtractFile.due_items,
        key=("account_id", "seq"),
        required=("account_id", "seq", "due_on", "principal", "interest", "fee"),
    ),
    ExtractFile.payments: FileSpec(
        ExtractFile.payments,
        key=("payment_id",),
        required=("payment_id", "account_id", "amount", "currency", "received_on"),
    ),
}

LANGUAGES = ("zh-CN", "en")
RELATIONSHIPS = (
    "spouse",
    "parent",
    "child",
    "sibling",
    "relative",
    "friend",
    "colleague",
    "other",
)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$", re.ASCII)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_PLAIN_AMOUNT = re.compile(r"^(\d+)(?:\.(\d*))?$", re.ASCII)
_PLAIN_RATE = re.compile(r"^(\d+)(?:\.(\d*))?$", re.ASCII)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RISK_SCORE_MAX = 1000
RATE_MAX_PPM = 1_000_000  # 100% a year: anything above is a percentage written by mistake


@lru_cache(maxsize=1 << 17)
def identifier(text: str) -> str:
    if not _ID.match(text):
        raise FieldInvalid(
            f"{text!r} is not an id; use up to 64 letters, digits and . _ : / - "
            "(starting with a letter or digit)"
        )
    return text


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def no_control(text: str) -> str:
    """Text without NUL or other control characters (tab and line breaks are allowed)."""
    found = _CONTROL.search(text)
    if found:
        raise FieldInvalid(
            f"holds the control character U+{ord(found.group()):04X} at position "
            f"{found.start() + 1}; remove it (export the extract as plain text)"
        )
    return text


def plain_text(text: str, max_length: int) -> str:
    no_control(text)
    if len(text) > max_length:
        raise FieldInvalid(f"is {len(text)} characters long; at most {max_length} fit")
    return text


@lru_cache(maxsize=1 << 14)
def iso_date(text: str) -> date:
    if not _DATE.match(text):
        raise FieldInvalid(f"{text!r} is not a date; write YYYY-MM-DD, e.g. 2026-01-31")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FieldInvalid(f"{text!r} is not a calendar date; check the day and month") from None


@cache
def currency(text: str) -> str:
    if text not in MINOR_UNITS:
        raise FieldInvalid(
            f"{text!r} is not an ISO 4217 currency code; write one such as CNY, TWD or BHD"
        )
    return text


# The largest amount one cell may hold, per currency, in its minor unit: 1,000,000,000.00 of a
# two-decimal currency, 100,000,000,000 JPY or KRW. Far above any consumer credit, and low
# enough that the daily run's sums and penalty products over an account's rows stay exact in
# 64-bit integers. docs/formats.md and docs/api.md list it.
AMOUNT_MAX_MINOR: dict[str, int] = {code: 10**11 for code in MINOR_UNITS}


def amount_max(ccy: str) -> str:
    """The largest amount accepted in ccy, as a user writes it (1000000000.00)."""
    return format_minor(AMOUNT_MAX_MINOR[ccy], ccy)


@lru_cache(maxsize=1 << 16)
def amount_minor(text: str, ccy: str | None) -> int:
    """A non-negative plain decimal amount in the currency's minor unit (12.50 CNY -> 1250).

    Only ASCII digits with an optional decimal point are amounts: no sign, exponent, digit
    separator or other script's digits. At most as many decimals as the currency has, at most
    `AMOUNT_MAX_MINOR` of it. Without a known currency the text is only checked to be a plain
    decimal, and 0 is returned.
    """
    match = _PLAIN_AMOUNT.match(text)
    if not match:
        if text[:1] == "-" and _PLAIN_AMOUNT.match(text[1:]):
            raise FieldInvalid(f"{text} is negative; amounts are never negative")
        raise FieldInvalid(
            f"{text!r} is not a plain decimal amount; write digits with an optional decimal "
            "point, e.g. 1234.50 (no sign, exponent or separators)"
        )
    if ccy is None:
        return 0
    units = MINOR_UNITS[ccy]
    frac = match.group(2) or ""
    if len(frac.rstrip("0")) > units:
        raise FieldInvalid(f"{text!r} has more decimals than {ccy} allows ({units})")
    frac = frac[:units]
    whole = match.group(1)
    if len(whole) > 15:
        minor = AMOUNT_MAX_MINOR[ccy] + 1
    else:
        minor = int(whole) * 10**units + int(frac.ljust(units, "0") or 0)
    if minor > AMOUNT_MAX_MINOR[ccy]:
        raise FieldInvalid(
            f"{text} is above the largest amount accepted in {ccy}, {amount_max(ccy)}; "
            "check the amount (a misplaced decimal point?)"
        )
    return minor


def format_minor(units: int, ccy: str) -> str:
    return f"{Money.from_minor(units, ccy).amount:.{minor_units(ccy)}f}"


@lru_cache(maxsize=1 << 12)
def rate_ppm(text: str) -> int:
    """An annual rate as a fraction, stored in parts per million (0.18 -> 180000)."""
    match = _PLAIN_RATE.match(text)
    hint = "write rates as fractions, 0.18 for 18% a year"
    if not match:
        if text[:1] == "-" and _PLAIN_RATE.match(text[1:]):
            raise FieldInvalid(f"{text} is negative; rates are never negative")
        raise FieldInvalid(f"{text!r} is not a plain decimal rate; {hint} (no sign or exponent)")
    whole, frac = match.group(1), (match.group(2) or "").rstrip("0")
    if len(frac) > 6:
        raise FieldInvalid(f"{text} has more than 6 decimals; rates are kept to 0.000001")
    if len(whole) > 3:
        raise FieldInvalid(f"{text} is above 1 (100% a year); {hint}")
    ppm = int(whole) * 1_000_000 + int(frac.ljust(6, "0"))
    if ppm > RATE_MAX_PPM:
        raise FieldInvalid(
            f"{text} is above 1 (100% a year); write rates as fractions, 0.18 for 18% a year"
        )
    return ppm


def phone(text: str) -> str:
    try:
        return normalise_phone(text)
    except DomainError as exc:
        raise FieldInvalid(str(exc)) from None


@cache
def timezone(text: str) -> str:
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise FieldInvalid(
            f"{text!r} is not an IANA time zone; write e.g. Asia/Shanghai or Asia/Urumqi"
        ) from None
    return text


def jurisdiction(text: str) -> str | None:
    """A borrower's jurisdiction (CN, GB, US-CA): it chooses the rule pack; blank for none."""
    try:
        return parse_jurisdiction(text)
    except JurisdictionInvalid as exc:
        raise FieldInvalid(str(exc)) from None


def choice(text: str, options: tuple[str, ...]) -> str:
    if text not in options:
        raise FieldInvalid(f"{text!r} is not one of {', '.join(options)}")
    return text


def language(text: str) -> str:
    return choice(text, LANGUAGES)


def product(text: str) -> str:
    return choice(text, tuple(Product))


def waterfall(text: str) -> str:
    return choice(text, tuple(Waterfall))


def relationship(text: str) -> str:
    return choice(text, RELATIONSHIPS)


def consent(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FieldInvalid(f"{text!r} is not a yes/no value; write true/false, 1/0 or yes/no")


def email(text: str) -> str:
    no_control(text)
    if not _EMAIL.match(text) or len(text) > 254:
        raise FieldInvalid(f"{text!r} is not an e-mail address; write e.g. name@example.cn")
    return text


def risk_score(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > RISK_SCORE_MAX:
        raise FieldInvalid(f"{text!r} is not a whole number from 0 to {RISK_SCORE_MAX}")
    return int(text)


@lru_cache(maxsize=1 << 12)
def seq(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 100_000:
        raise FieldInvalid(f"{text!r} is not an instalment number; write 1, 2, 3 ...")
    return int(text)
