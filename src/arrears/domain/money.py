"""Money: a Decimal amount in an ISO 4217 currency, rounded explicitly to the minor unit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType

from babel.numbers import get_currency_precision, list_currencies

from arrears.domain.errors import DomainError

# Minor units of every ISO 4217 code, from Babel's CLDR data (package data, no other I/O):
# the standard digits, not the cash ones (TWD 2, BHD 3, JPY 0, KRW 0, CLF 4).
MINOR_UNITS: Mapping[str, int] = MappingProxyType(
    {code: get_currency_precision(code) for code in sorted(list_currencies())}
)

# The rounding used wherever the domain makes a new amount (interest, penalty, instalments).
DEFAULT_ROUNDING = ROUND_HALF_UP


class CurrencyUnknown(DomainError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency {code!r}; use an ISO 4217 code such as EUR or TWD")


class CurrencyMismatch(DomainError):
    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"cannot combine {left} with {right}; convert first")


class AmountInvalid(DomainError):
    pass


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise CurrencyUnknown(currency) from None


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def parse_amount(text: str, currency: str) -> Decimal:
    """Parse a decimal string as an amount in currency; more decimals than it has is an error."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise AmountInvalid(f"{text!r} is not a decimal amount (write e.g. 1234.50)") from None
    if not value.is_finite():
        raise AmountInvalid(f"{text!r} is not a finite amount")
    if value != value.quantize(quantum(currency), rounding=DEFAULT_ROUNDING):
        raise AmountInvalid(
            f"{text!r} has more decimals than {currency} allows ({minor_units(currency)})"
        )
    return value


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        minor_units(self.currency)
        if not isinstance(self.amount, Decimal):
            raise AmountInvalid(f"money amounts are Decimal, got {type(self.amount).__name__}")
        if not self.amount.is_finite():
            raise AmountInvalid(f"{self.amount} is not a finite amount")

    @classmethod
    def of(
        cls, amount: str | int | Decimal, currency: str, rounding: str = DEFAULT_ROUNDING
    ) -> Money:
        try:
            value = Decimal(amount) if not isinstance(amount, Decimal) else amount
        except InvalidOperation:
            raise AmountInvalid(
                f"{amount!r} is not a decimal amount (write e.g. 1234.50)"
            ) from None
        if not value.is_finite():
            raise AmountInvalid(f"{amount!r} is not a finite amount")
        return cls(value.quantize(quantum(currency), rounding=rounding), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.of(0, currency)

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        return cls(Decimal(units).scaleb(-minor_units(currency)), currency)

    def to_minor(self) -> int:
        return int(
            self.amount.scaleb(minor_units(self.currency)).to_integral_value(DEFAULT_ROUNDING)
        )

    def rounded(self, rounding: str = DEFAULT_ROUNDING) -> Money:
        return Money(self.amount.quantize(quantum(self.currency), rounding=rounding), self.currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        return Money(self.amount * Decimal(factor), self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def min(self, other: Money) -> Money:
        return self if self <= other else other

    def max(self, other: Money) -> Money:
        return self if self >= other else other

    def __str__(self) -> str:
        return f"{self.amount:.{minor_units(self.currency)}f} {self.currency}"


def split_evenly(total: Money, parts: int) -> list[Money]:
    """Split total into parts equal amounts; the last part absorbs the rounding.

    The equal parts are rounded down, so the last part is never smaller than the others and
    never negative (0.05 in 10 parts: nine of 0.00 and one of 0.05).
    """
    if parts < 1:
        raise AmountInvalid(f"cannot split into {parts} parts; use at least 1")
    each = Money.of(total.amount / parts, total.currency, rounding=ROUND_DOWN)
    head = [each] * (parts - 1)
    last = total - each * (parts - 1)
    return [*head, last]
