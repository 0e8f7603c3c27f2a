"""A dispute in the host's extract (SQLite and PostgreSQL): `accounts.csv`'s optional
`disputed_on` records a dispute of the account (source import) and pauses collection; the same
file again records nothing new; a date before the account opened is refused, nothing written."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from arrears.privacy.keyring import KeyRing
from arrears.services.disputes import list_disputes
from arrears.services.import_rows import ImportRejected
from arrears.services.importing import import_directory
from arrears.store.tables_compliance import borrower_flags

GOOD = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "good"


def _extract(tmp: Path, disputed: dict[str, str]) -> Path:
    """The good extract, with `disputed_on` added to accounts.csv."""
    out = tmp / "extract"
    shutil.copytree(GOOD, out, dirs_exist_ok=True)
    lines = (GOOD / "accounts.csv").read_text("utf-8").splitlines()
    rows = [lines[0] + ",disputed_on"]
    rows += [f"{line},{disputed.get(line.split(',', 1)[0], '')}" for line in lines[1:]]
    (out / "accounts.csv").write_text("\n".join(rows) + "\n", "utf-8")
    return out


def test_a_dispute_in_the_extract(db: Engine, keyring: KeyRing, tmp_path: Path) -> None:
    extract = _extract(tmp_path, {"A1": "2026-03-02"})
    report = import_directory(db, keyring, extract)
    assert report.files["accounts.csv"].inserted == 3
    with db.connect() as conn:
        (d,) = list_disputes(conn)
        flags = conn.execute(select(borrower_flags.c.borrower_id, borrower_flags.c.flag)).all()
    assert (d.borrower_id, d.account_id, d.source, d.raised_on) == (
        "B1",
        "A1",
        "import",
        date(2026, 3, 2),
    )
    assert [tuple(f) for f in flags] == [("B1", "dispute")]
    again = import_directory(db, keyring, extract)  # the same file: nothing new
    assert again.files["accounts.csv"].skipped == 3
    with db.connect() as conn:
        assert len(list_disputes(conn, status=None)) == 1


def test_a_dispute_before_the_account_opened_is_refused(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    with pytest.raises(ImportRejected) as refused:
        import_directory(db, keyring, _extract(tmp_path, {"A1": "2025-11-30"}))
    assert "accounts.csv:2: disputed_on: 2025-11-30 is before the account opened (2025-12-01)" in (
        str(refused.value)
    )
    with db.connect() as conn:
        assert list_disputes(conn, status=None) == []
