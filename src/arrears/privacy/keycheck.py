"""Opening the key ring against the database it serves.

A missing key file used to be replaced by a new key ring without a word, which splits the data
across two rings (and makes every audit entry look tampered). Now:

- a key ring whose file is missing is created only when the database holds nothing made with a
  key ring (no encrypted value, no audit entry) — a fresh install, the demo, a test;
- otherwise opening fails with `KeyRingMissing`, naming the path looked at and the key ids the
  data needs; a ring that lacks those ids or cannot open the data fails with `KeyRingMismatch`;
- `arrears keys init` makes a new ring deliberately.

The check reads a few rows only: the first and last encrypted value of every `_enc` column (by
primary key) and the first audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import Connection, Engine, inspect, select

from arrears.privacy.keyring import KeyRing, KeyRingInvalid, KeyUnknown


class KeyRingMissing(KeyRingInvalid):
    def __init__(self, path: Path, needs: DataKeys) -> None:
        self.path, self.needs = path, needs
        super().__init__(
            f"no key file at {path.resolve()}, but the database holds {needs.describe()}: "
            "restore that key file (or point ARREARS_KEY_FILE / ARREARS_KEYS at it). A new key "
            "ring would split the data; `arrears keys init` makes one only when you mean it"
        )


class KeyRingMismatch(KeyRingInvalid):
    def __init__(self, where: str, needs: DataKeys, problem: str) -> None:
        self.needs = needs
        super().__init__(
            f"the key ring from {where} does not fit this database ({problem}); the data needs "
            f"{needs.describe()}: use the key file the data was written with"
        )


@dataclass
class DataKeys:
    """What the database's data says about the key ring it was made with."""

    key_ids: set[str] = field(default_factory=set)
    samples: list[bytes] = field(default_factory=list)  # a few ciphertexts to try the ring on
    audit_entries: bool = False
    first_audit: Any = None  # the first audit entry's row

    @property
    def empty(self) -> bool:
        return not self.key_ids and not self.audit_entries

    def describe(self) -> str:
        parts = []
        if self.key_ids:
            parts.append(f"personal data encrypted with key ids {', '.join(sorted(self.key_ids))}")
        if self.audit_entries:
            parts.append("an audit log signed with the ring's index key")
        return " and ".join(parts) or "no encrypted data"


PROBE_ROWS = 1000  # rows read from each end of a table for its encrypted values


def data_keys(conn: Connection) -> DataKeys:
    from arrears.privacy.rotation import encrypted_columns
    from arrears.store.tables_compliance import audit_log

    found = DataKeys()
    present = set(inspect(conn).get_table_names())
    # per column, its first and its last value among the first and the last rows (a column
    # empty in a book of millions is not walked to its end): all asked in one statement
    probes = []
    for table, cols in encrypted_columns():
        if table.name not in present:
            continue
        pk = list(table.primary_key.columns)
        for col in cols:
            for order in (pk, [c.desc() for c in pk]):
                rows = select(col.label("v")).order_by(*order).limit(PROBE_ROWS).subquery()
                probes.append(
                    select(rows.c.v).where(rows.c.v.isnot(None)).limit(1).scalar_subquery()
                )
    values: Any = conn.execute(select(*probes)).one() if probes else ()
    for value in values:
        if value is not None:
            blob = bytes(value)
            found.key_ids.add(blob.partition(b":")[0].decode(errors="replace"))
            found.samples.append(blob)
    if audit_log.name in present:
        first = conn.execute(select(audit_log).order_by(audit_log.c.seq).limit(1)).first()
        found.audit_entries = first is not None
        found.first_audit = first
    return found


def check_fits(ring: KeyRing, needs: DataKeys, where: str) -> None:
    """Raise `KeyRingMismatch` unless `ring` opens the sampled data and signed the audit log."""
    from arrears.privacy.audit import audit_key, entry_hash

    missing = needs.key_ids - set(ring.keys)
    if missing:
        raise KeyRingMismatch(where, needs, f"it has no key {', '.join(sorted(missing))}")
    for blob in needs.samples:
        try:
            ring.decrypt(blob)
        except (InvalidTag, KeyUnknown, ValueError):
            kid = ring.key_id_of(blob)
            raise KeyRingMismatch(
                where, needs, f"its key {kid} does not open data encrypted under {kid}"
            ) from None
    r = needs.first_audit
    if r is not None:
        digest = entry_hash(
            audit_key(ring), r.prev_hash, r.seq, r.at, r.actor, r.kind, r.subject, r.detail
        )
        if digest != r.hash:
            raise KeyRingMismatch(
                where, needs, "its index key did not sign the audit log's first entry"
            )


def open_key_ring(
    engine: Engine,
    *,
    keys_json: str | None,
    key_file: Path,
    anchor_dirs: tuple[Path, ...] = (),
) -> KeyRing:
    """The key ring for `engine`'s database: from ARREARS_KEYS, else the key file; a missing
    key file is created only for a database that holds nothing made with a key ring."""
    with engine.connect() as conn:
        needs = data_keys(conn)
    if keys_json:
        ring = KeyRing.from_json(keys_json)
        where = "ARREARS_KEYS"
    elif key_file.exists():
        ring = KeyRing.from_json(key_file.read_text(), source=key_file)
        where = str(key_file.resolve())
    else:
        if not needs.empty:
            raise KeyRingMissing(key_file, needs)
        ring = KeyRing.generate(source=key_file)
        ring.save()
        where = str(key_file.resolve())
    check_fits(ring, needs, where)
    ring.anchor_dirs = anchor_dirs
    return ring


def init_key_ring(engine: Engine, key_file: Path, *, force: bool = False) -> KeyRing:
    """`arrears keys init`: a new key file; refused if one exists, or (without `force`) if the
    database holds data another ring made."""
    if key_file.exists():
        raise KeyRingInvalid(f"a key file already exists at {key_file.resolve()}; keep it")
    with engine.connect() as conn:
        needs = data_keys(conn)
    if not needs.empty and not force:
        raise KeyRingInvalid(
            f"the database holds {needs.describe()}; a new ring cannot read it. Restore the "
            "old key file, or pass --force to start a new ring anyway"
        )
    ring = KeyRing.generate(source=key_file)
    ring.save()
    return ring
