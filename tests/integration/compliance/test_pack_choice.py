"""The pack a borrower is judged under: exact jurisdiction, else the longest prefix, else the
portfolio default — the same in Python and in SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, text

from arrears.compliance.loading import (
    JurisdictionInvalid,
    PackChoice,
    pack_choice,
    parse_jurisdiction,
    parse_pattern,
)
from arrears.store.tables_compliance import compliance_jurisdictions, compliance_settings

AT = datetime(2026, 3, 2, tzinfo=UTC)
CHOICE = PackChoice("cn", (("US-NY", "uk"), ("US-*", "us"), ("GB-*", "uk")))
EXPECTED = {
    "US-NY": "uk",
    "US-CA": "us",
    "US": "us",
    "GB": "uk",
    "GB-SCT": "uk",
    "CN": "cn",
    "USA": "cn",
    None: "cn",
    "FR": "cn",
}


def test_python_precedence() -> None:
    assert {j: CHOICE.code_for(j) for j in EXPECTED} == EXPECTED


def test_sql_agrees_with_python(db: Engine) -> None:
    with db.connect() as conn:
        for jurisdiction, code in EXPECTED.items():
            got = conn.execute(
                text(f"SELECT {CHOICE.sql_case('j')} FROM (SELECT :j AS j) x"),
                {"j": jurisdiction},
            ).scalar()
            assert got == code, jurisdiction


def test_the_database_decides(db: Engine) -> None:
    with db.begin() as conn:
        assert pack_choice(conn, fallback="uk").default == "uk"  # a new database: the fallback
        conn.execute(
            insert(compliance_settings).values(
                key="rule_pack", value="us", changed_by="o", changed_at=AT
            )
        )
        conn.execute(
            insert(compliance_jurisdictions).values(
                pattern="CN", pack="cn", changed_by="o", changed_at=AT
            )
        )
        choice = pack_choice(conn, fallback="uk")
    assert (choice.default, choice.patterns) == ("us", (("CN", "cn"),))


@pytest.mark.parametrize("bad", ["California", "U", "US-", "us_ca", "US-CALI"])
def test_jurisdictions_are_validated(bad: str) -> None:
    with pytest.raises(JurisdictionInvalid, match="US-CA"):
        parse_jurisdiction(bad)


def test_patterns() -> None:
    assert parse_jurisdiction(" us-ca ") == "US-CA" and parse_jurisdiction("") is None
    assert parse_pattern("us*") == "US-*" and parse_pattern("US-*") == "US-*"
    with pytest.raises(JurisdictionInvalid, match="prefix"):
        parse_pattern("*")
