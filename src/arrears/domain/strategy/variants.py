"""Champion/challenger assignment: a case's bucket 0..99 is a keyed hash of its id.

The hash is an affine map modulo a prime, keyed by the experiment's salt:

    bucket = ((case_id * k1 + k2) mod 1_000_003) mod 100

with k1, k2 drawn from SHA-256 of the salt. It needs nothing but integer arithmetic, so the
same bucket comes out of Python, SQLite, PostgreSQL and DuckDB, and a new salt reshuffles the
cases. The variant is decided from the bucket by the shares in order (champion 0..49,
challenger 50..99 for 50/50), stored once, and kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

PRIME = 1_000_003


@dataclass(frozen=True)
class Variant:
    name: str
    share: int  # percent of new cases


def salt_keys(salt: str) -> tuple[int, int]:
    digest = hashlib.sha256(salt.encode()).digest()
    k1 = int.from_bytes(digest[:8], "big") % (PRIME - 1) + 1  # never 0
    k2 = int.from_bytes(digest[8:16], "big") % PRIME
    return k1, k2


def bucket_of(case_id: int, salt: str) -> int:
    k1, k2 = salt_keys(salt)
    return ((case_id * k1 + k2) % PRIME) % 100


def variant_of_bucket(bucket: int, variants: Sequence[Variant]) -> str:
    upper = 0
    for v in variants:
        upper += v.share
        if bucket < upper:
            return v.name
    return variants[-1].name


def variant_for(case_id: int, salt: str, variants: Sequence[Variant]) -> str:
    return variant_of_bucket(bucket_of(case_id, salt), variants)
