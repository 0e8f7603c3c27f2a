"""Loading the rule pack, failing closed: a pack that cannot be had stops the gate with a named
error, never lets an outreach through. The one place a pack is chosen: per borrower, by the
borrower's jurisdiction (`compliance_jurisdictions`), else the portfolio default
(`compliance_settings`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select

from arrears.compliance.rules.pack import Pack
from arrears.store.tables import borrowers
from arrears.store.tables_compliance import compliance_jurisdictions, compliance_settings

DEFAULT_PACK = "cn"


class RulePackUnavailable(RuntimeError):
    """The rule pack cannot be loaded: nothing is planned, sent or dialled until it can."""

    def __init__(self, pack: str, why: str) -> None:
        self.pack = pack
        self.why = why
        super().__init__(
            f"the rule pack {pack!r} cannot be loaded ({why}); nothing is planned, sent or "
            "dialled until it can — check the pack name (`arrears compliance packs`) and the "
            "installation"
        )


def _get_pack(code: str) -> Pack:
    from arrears.compliance.rules.packs import get_pack

    return get_pack(code)


def load_pack(code: str) -> Pack:
    """The rule pack named `code`, or `RulePackUnavailable` saying why it cannot be had."""
    try:
        pack = _get_pack(code)
    except RulePackUnavailable:
        raise
    except Exception as exc:  # a missing module, a broken pack, an unknown name: all refuse
        raise RulePackUnavailable(code, str(exc) or type(exc).__name__) from exc
    if not isinstance(pack, Pack) or not pack.rules:
        raise RulePackUnavailable(code, "the pack has no rules")
    return pack


def portfolio_pack(
    conn: Connection, requested: str | None = None, *, fallback: str | None = None
) -> str:
    """The pack code in force: the one asked for, else the portfolio's setting (`arrears
    compliance use-pack`), else `fallback` (the installation's default for a database that
    names none), else 'cn'."""
    if requested:
        return requested
    value = conn.execute(
        select(compliance_settings.c.value).where(compliance_settings.c.key == "rule_pack")
    ).scalar()
    return value or fallback or DEFAULT_PACK


# --- the pack of each borrower -------------------------------------------------------------------

JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
PATTERN = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3}|-\*)?$")


class JurisdictionInvalid(ValueError):
    def __init__(self, text: str, *, pattern: bool = False) -> None:
        what = "a jurisdiction or a prefix like US-*" if pattern else "a jurisdiction"
        super().__init__(
            f"{text!r} is not {what}; write a country code, optionally with a state or region "
            "(CN, GB, US-CA, US-NY)" + (" or a country's prefix (US-*)" if pattern else "")
        )


def parse_jurisdiction(text: str | None) -> str | None:
    """A borrower's jurisdiction, upper-cased ("us-ca" → "US-CA"); None or "" for none."""
    if text is None or not text.strip():
        return None
    value = text.strip().upper()
    if not JURISDICTION.match(value):
        raise JurisdictionInvalid(text)
    return value


def parse_pattern(text: str) -> str:
    value = text.strip().upper()
    if value.endswith("*") and not value.endswith("-*"):
        value = value[:-1].rstrip("-") + "-*"
    if not PATTERN.match(value):
        raise JurisdictionInvalid(text, pattern=True)
    return value


@dataclass(frozen=True)
class PackChoice:
    """Which pack judges a borrower: their jurisdiction exactly, else the longest prefix that
    covers it (`US-*`), else the portfolio default. The same choice in Python (`code_for`) and
    in SQL (`sql_case`), from the same ordered list."""

    default: str
    patterns: tuple[tuple[str, str], ...] = ()  # (pattern, pack), exact first, then longest

    def code_for(self, jurisdiction: str | None) -> str:
        if jurisdiction:
            for pattern, pack in self.patterns:
                if pattern.endswith("-*"):
                    if jurisdiction.startswith(pattern[:-1]) or jurisdiction == pattern[:-2]:
                        return pack
                elif jurisdiction == pattern:
                    return pack
        return self.default

    @property
    def codes(self) -> frozenset[str]:
        return frozenset({self.default, *(p for _, p in self.patterns)})

    def sql_case(self, column: str) -> str:
        """The pack code of `column` (a borrower's jurisdiction) as an SQL expression."""
        if not self.patterns:
            return f"'{self.default}'"
        whens = []
        for pattern, pack in self.patterns:
            if pattern.endswith("-*"):
                country = pattern[:-2]
                cond = f"({column} LIKE '{country}-%' OR {column} = '{country}')"
            else:
                cond = f"{column} = '{pattern}'"
            whens.append(f"WHEN {cond} THEN '{pack}'")
        return f"(CASE {' '.join(whens)} ELSE '{self.default}' END)"


def _order(patterns: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    exact = sorted((p, k) for p, k in patterns.items() if not p.endswith("-*"))
    prefixes = sorted(
        ((p, k) for p, k in patterns.items() if p.endswith("-*")), key=lambda e: (-len(e[0]), e[0])
    )
    return tuple(exact + prefixes)


def pack_choice(conn: Connection, fallback: str | None = None) -> PackChoice:
    """The portfolio's choice of packs: the default (`use-pack`, else `fallback`, else 'cn')
    and the jurisdictions mapped (`map-jurisdiction`). Read fresh each time: a change takes
    effect at the next run, send and dial."""
    default = portfolio_pack(conn, fallback=fallback)
    rows = conn.execute(
        select(compliance_jurisdictions.c.pattern, compliance_jurisdictions.c.pack)
    ).all()
    mapped = {str(p): str(k) for p, k in rows if PATTERN.match(str(p)) and _CODE.match(str(k))}
    return PackChoice(default, _order(mapped))


_CODE = re.compile(r"^[a-z0-9_]{1,8}$")


def borrower_pack(conn: Connection, borrower_id: str, fallback: str | None = None) -> str:
    """The pack code a borrower is judged under."""
    jurisdiction = conn.execute(
        select(borrowers.c.jurisdiction).where(borrowers.c.id == borrower_id)
    ).scalar()
    return pack_choice(conn, fallback).code_for(jurisdiction)
