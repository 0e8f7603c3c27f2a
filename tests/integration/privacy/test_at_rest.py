"""Personal data at rest: known values are written, then the raw SQLite file (and its WAL) and a
PostgreSQL dump are searched for them — nothing is found. After `arrears keys rotate` every value
is still readable, under the new key only, and phone look-ups by blind index still work."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from arrears.cli import build
from arrears.privacy.keyring import KeyRing
from arrears.privacy.rotation import encrypted_columns, key_usage
from arrears.store import tables as t
from tests.integration.privacy.conftest import cli_url

PERSON = {
    "name": "欧阳娜娜",
    "phone": "+8613712349876",
    "email": "ouyang.nana@example.cn",
    "id_number": "110105199001011234",
    "address": "北京市朝阳区建国路88号",
}
CONTACT = {"name": "欧阳明远", "phone": "+8613598761234"}
NEEDLES = [*PERSON.values(), *CONTACT.values(), "13712349876", "ouyang.nana"]


def _write(db: Engine, ring: KeyRing) -> None:
    with db.begin() as conn:
        conn.execute(
            t.borrowers.insert().values(
                id="B1",
                phone_index=ring.blind_index(PERSON["phone"]),
                **{f"{k}_enc": ring.encrypt(v) for k, v in PERSON.items()},
            )
        )
        conn.execute(
            t.contacts.insert().values(
                id="C1",
                borrower_id="B1",
                relationship="sibling",
                phone_index=ring.blind_index(CONTACT["phone"]),
                **{f"{k}_enc": ring.encrypt(v) for k, v in CONTACT.items()},
            )
        )


def _raw(db: Engine, tmp_path: Path) -> bytes:
    if db.dialect.name == "sqlite":
        path = Path(str(db.url.database))
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    with db.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-n", schema],
        capture_output=True,
        check=True,
    )
    return dump.stdout


def _readable(db: Engine, ring: KeyRing) -> None:
    with db.connect() as conn:
        b = conn.execute(select(t.borrowers)).one()
        assert {k: ring.decrypt(getattr(b, f"{k}_enc")) for k in PERSON} == PERSON
        found = conn.execute(
            select(t.contacts.c.id).where(
                t.contacts.c.phone_index == ring.blind_index(CONTACT["phone"])
            )
        ).scalar_one()
        assert found == "C1"


def test_no_personal_data_in_the_file_or_the_dump_before_and_after_rotation(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "keys.json"
    ring = KeyRing.generate(source=key_file)
    ring.save()
    _write(db, ring)
    db.dispose()  # let SQLite checkpoint; the WAL is searched as well
    raw = _raw(db, tmp_path)
    assert raw, "nothing to search"
    for needle in NEEDLES:
        assert needle.encode() not in raw, needle
    old_key = ring.active

    monkeypatch.setenv("ARREARS_KEY_FILE", str(key_file))
    monkeypatch.delenv("ARREARS_KEYS", raising=False)
    result = CliRunner().invoke(
        build(), ["--database", cli_url(db), "keys", "rotate", "--batch", "1"]
    )
    assert result.exit_code == 0, result.output
    rotated = KeyRing.load(None, key_file, create=False)
    assert rotated.active != old_key and old_key in rotated.keys
    assert set(key_usage(db, rotated)) == {rotated.active}
    _readable(db, rotated)
    # a process still holding the old ring reads the new ciphertext: it reloads the key file
    _readable(db, ring)
    db.dispose()
    raw = _raw(db, tmp_path)
    for needle in NEEDLES:
        assert needle.encode() not in raw, needle


def test_every_enc_column_of_every_table_is_found() -> None:
    found = {(tab.name, c.name) for tab, cols in encrypted_columns() for c in cols}
    assert {
        ("borrowers", "name_enc"),
        ("borrowers", "address_enc"),
        ("contacts", "phone_enc"),
    } <= found
