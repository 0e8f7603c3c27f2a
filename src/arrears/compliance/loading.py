"""Loading the rule pack, failing closed: a pack that cannot be had stops the gate with a named
error, never lets an outreach through. The one place a pack is chosen (per borrower, later)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from arrears.compliance.rules.pack import Pack
from arrears.store.tables_compliance import compliance_settings

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


def portfolio_pack(conn: Connection, requested: str | None = None) -> str:
    """The pack code in force: the one asked for, else the portfolio's setting, else 'cn'."""
    if requested:
        return requested
    value = conn.execute(
        select(compliance_settings.c.value).where(compliance_settings.c.key == "rule_pack")
    ).scalar()
    return value or DEFAULT_PACK
