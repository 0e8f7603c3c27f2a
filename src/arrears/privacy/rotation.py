"""Key rotation without downtime: a new active key, then every `_enc` column of every table is
re-encrypted in small batches, each its own transaction. Old and new keys stay in the ring, so
every row is readable throughout; other processes pick the new key up from the key file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Engine, Table, and_, bindparam, or_, select, tuple_

from arrears.privacy.keyring import KeyRing
from arrears.store.schema import metadata


def encrypted_columns() -> list[tuple[Table, list[Column[object]]]]:
    """Every table with personal-data columns, found by the `_enc` suffix."""
    found = []
    for table in metadata.sorted_tables:
        cols = [c for c in table.c if c.name.endswith("_enc")]
        if cols:
            found.append((table, cols))
    return found


@dataclass
class RotationReport:
    key_id: str
    rows: Counter[str] = field(default_factory=Counter)  # table -> rows re-encrypted
    values: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"key_id": self.key_id, "values": self.values, "rows": dict(self.rows)}


def _pages(
    engine: Engine, table: Table, cols: list[Column[object]], size: int
) -> Iterator[list[Any]]:
    pk = list(table.primary_key.columns)
    last: tuple[object, ...] | None = None
    while True:
        q = select(*pk, *cols).where(or_(*(c.isnot(None) for c in cols)))
        if last is not None:
            q = q.where(tuple_(*pk) > tuple_(*last))
        q = q.order_by(*pk).limit(size)
        with engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return
        yield list(rows)
        last = tuple(rows[-1][: len(pk)])


def rotate(
    engine: Engine,
    ring: KeyRing,
    *,
    batch_size: int = 1000,
    new_key: bool = True,
    progress: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Make a new key active (saved first, so no ciphertext ever outlives its key), then
    re-encrypt every value under an older key. Re-running resumes: values already under the
    active key are skipped."""
    if new_key:
        ring.add_key()
        if ring.source is not None:
            ring.save()
    report = RotationReport(ring.active)
    for table, cols in encrypted_columns():
        pk = list(table.primary_key.columns)
        for page in _pages(engine, table, cols, batch_size):
            updates = []
            for row in page:
                values = row[len(pk) :]
                fresh: dict[str, object] = {}
                for col, blob in zip(cols, values, strict=True):
                    if blob is not None and ring.key_id_of(blob) != ring.active:
                        fresh[col.name] = ring.encrypt(ring.decrypt(blob))
                if fresh:
                    # keep unchanged columns as they are
                    for col, blob in zip(cols, values, strict=True):
                        fresh.setdefault(col.name, blob)
                    updates.append({**{f"pk_{c.name}": row[i] for i, c in enumerate(pk)}, **fresh})
                    report.values += sum(
                        1
                        for c, b in zip(cols, values, strict=True)
                        if b is not None and ring.key_id_of(b) != ring.active
                    )
            if updates:
                stmt = (
                    table.update()
                    .where(and_(*(c == bindparam(f"pk_{c.name}") for c in pk)))
                    .values({c.name: bindparam(c.name) for c in cols})
                )
                with engine.begin() as conn:
                    conn.execute(stmt, updates)
                report.rows[table.name] += len(updates)
                if progress is not None:
                    progress(table.name, len(updates))
    return report


def key_usage(engine: Engine, ring: KeyRing, batch_size: int = 5000) -> Counter[str]:
    """How many stored values each key id encrypts (a key is retired only at zero)."""
    usage: Counter[str] = Counter()
    for table, cols in encrypted_columns():
        pk_len = len(table.primary_key.columns)
        for page in _pages(engine, table, cols, batch_size):
            for row in page:
                for blob in row[pk_len:]:
                    if blob is not None:
                        usage[ring.key_id_of(blob)] += 1
    return usage
