"""Knobs of the daily run a lender sets once per portfolio."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class RunConfig:
    tolerance_minor: int = 100  # overdue at or below this is not delinquent (1.00)
    penalty_cap_ppm: int = 240_000  # annual rate + penalty rate never above 24%
    bucket_bounds: tuple[tuple[str, int], ...] = field(default=DEFAULT_BUCKET_BOUNDS)
    overflow_bucket: str = OVERFLOW_BUCKET

    def bucket_case(self, dpd: str) -> str:
        """A CASE expression mapping a DPD expression to its bucket name."""
        whens = " ".join(
            f"WHEN {dpd} <= {bound} THEN '{name}'" for name, bound in self.bucket_bounds
        )
        return f"CASE {whens} ELSE '{self.overflow_bucket}' END"
