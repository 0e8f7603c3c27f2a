"""Knobs of the daily run a lender sets once per portfolio."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from arrears.domain.money import MINOR_UNITS

# Upper DPD bound of each bucket; above the last bound is the overflow bucket.
DEFAULT_BUCKET_BOUNDS: tuple[tuple[str, int], ...] = (
    ("M0", 0),
    ("M1", 30),
    ("M2", 60),
    ("M3", 90),
    ("M4", 120),
    ("M5", 150),
    ("M6", 180),
)
OVERFLOW_BUCKET = "M7+"

_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


def default_tolerances() -> dict[str, int]:
    """One major unit of every currency the platform books in, in its minor unit: 100 for
    1.00 CNY, 1 for 1 JPY (as `arrears.domain.delinquency.default_tolerance`)."""
    return {code: 10**units for code, units in MINOR_UNITS.items()}


@dataclass(frozen=True)
class RunConfig:
    # Overdue at or below the tolerance of the account's currency is not delinquent: minor
    # units per currency. The currencies not given here keep one major unit (`default_tolerances`).
    tolerance: Mapping[str, int] = field(default_factory=dict, hash=False)
    penalty_cap_ppm: int = 240_000  # annual rate + penalty rate never above 24%
    bucket_bounds: tuple[tuple[str, int], ...] = field(default=DEFAULT_BUCKET_BOUNDS)
    overflow_bucket: str = OVERFLOW_BUCKET
    # An account reaching this DPD is charged off (engine/charge_off.py); a product may differ.
    charge_off_dpd: int = 180
    charge_off_dpd_by_product: Mapping[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for product, dpd in {"": self.charge_off_dpd, **self.charge_off_dpd_by_product}.items():
            if isinstance(dpd, bool) or not isinstance(dpd, int) or dpd < 1:
                where = f" of {product}" if product else ""
                raise ValueError(f"charge-off DPD{where}: {dpd!r} is not a whole number >= 1")
            if product and not re.fullmatch(r"[a-z_]+", product):
                raise ValueError(f"charge-off DPD: {product!r} is not a product name")
        tolerance = default_tolerances()
        for code, minor in self.tolerance.items():
            if not isinstance(code, str) or not _CURRENCY_CODE.fullmatch(code):
                raise ValueError(f"tolerance: {code!r} is not an ISO 4217 currency code (CNY)")
            if isinstance(minor, bool) or not isinstance(minor, int) or minor < 0:
                raise ValueError(
                    f"tolerance of {code}: {minor!r} is not a whole number of minor units >= 0"
                )
            tolerance[code] = minor
        object.__setattr__(self, "tolerance", MappingProxyType(tolerance))

    def tolerance_of(self, currency: str) -> int:
        """The tolerance of a currency in its minor unit; 0 (every minor unit overdue counts)
        for a currency the run has none for."""
        return self.tolerance.get(currency, 0)

    def tolerance_values(self) -> list[int]:
        """The distinct tolerances, and 0 (that of a currency without one), ascending."""
        return sorted({0, *self.tolerance.values()})

    def bucket_case(self, dpd: str) -> str:
        """A CASE expression mapping a DPD expression to its bucket name."""
        whens = " ".join(
            f"WHEN {dpd} <= {bound} THEN '{name}'" for name, bound in self.bucket_bounds
        )
        return f"CASE {whens} ELSE '{self.overflow_bucket}' END"
