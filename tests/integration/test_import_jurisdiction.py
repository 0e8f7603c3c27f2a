"""The borrowers extract may carry the borrower's jurisdiction (it chooses the rule pack):
validated, upper-cased, blank clears it, left out leaves it (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from arrears.privacy.keyring import KeyRing
from arrears.services.importing import ImportRejected, import_rows
from arrears.store import tables as t

ROW = {
    "borrower_id": "B1",
    "name": "Jane Roe",
    "phone": "+14155550101",
    "email": "",
    "timezone": "America/Los_Angeles",
    "language": "en",
}


def _stored(db: Engine) -> str | None:
    with db.connect() as conn:
        value: str | None = conn.execute(select(t.borrowers.c.jurisdiction)).scalar_one()
        return value


def test_jurisdiction_column(db: Engine, keyring: KeyRing) -> None:
    import_rows(db, keyring, {"borrowers.csv": [{**ROW, "jurisdiction": "us-ca"}]})
    assert _stored(db) == "US-CA"
    import_rows(db, keyring, {"borrowers.csv": [ROW]})  # column left out: kept
    assert _stored(db) == "US-CA"
    with pytest.raises(ImportRejected) as exc:
        import_rows(db, keyring, {"borrowers.csv": [{**ROW, "jurisdiction": "California"}]})
    (problem,) = exc.value.problems
    assert (problem.line, problem.column) == (2, "jurisdiction") and "US-CA" in problem.message
    assert _stored(db) == "US-CA"
    import_rows(db, keyring, {"borrowers.csv": [{**ROW, "jurisdiction": ""}]})  # blank clears
    assert _stored(db) is None
