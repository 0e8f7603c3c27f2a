"""Rules of borrower flags: cease, dispute, bankruptcy, deceased, incapacitated, vulnerability,
breathing space, attorney, complaint. Each flag's effect is data of the pack."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from arrears.compliance.rules.clock import day_start, local_date
from arrears.compliance.rules.model import Audience, Candidate, Flag, History, Violation
from arrears.compliance.rules.pack import FlagEffect, Pack

SENTENCES = {
    Flag.CEASE: "the borrower asked us to stop communicating",
    Flag.DISPUTE: "the debt is disputed; collection waits until it is verified",
    Flag.BANKRUPTCY: "the borrower is in bankruptcy proceedings",
    Flag.DECEASED: "the borrower is deceased",
    Flag.INCAPACITATED: "the borrower is incapacitated",
    Flag.VULNERABILITY: "the borrower is vulnerable; only a specialist agent reaches out, by hand",
    Flag.BREATHING_SPACE: "the borrower is in a breathing-space moratorium",
    Flag.ATTORNEY: "the borrower is represented by an attorney; communicate with the attorney",
    Flag.COMPLAINT: "the borrower's complaint is open and outreach pauses until it is answered",
}


def rule_name(flag: Flag) -> str:
    return f"flag_{flag}"


def flag_rule(flag: Flag) -> Callable[[Candidate, History, Pack, datetime], Violation | None]:
    def check(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
        if not h.flags:
            return None
        effect = pack.flag_effects.get(flag)
        if effect is None:
            return None
        day = max(local_date(at, c.timezone), c.business_date)
        held = [f for f in h.flags if f.flag is flag and f.holds_on(day)]
        if not held:
            return None
        state = held[0]
        sentence = f"{SENTENCES[flag]} (since {state.since})"
        name = rule_name(flag)
        if effect is FlagEffect.BLOCK:
            return pack.block(name, sentence)
        if effect is FlagEffect.BLOCK_BORROWER:
            return pack.block(name, sentence) if c.audience is Audience.BORROWER else None
        if effect is FlagEffect.BLOCK_AUTOMATED:
            return None if c.agent_initiated else pack.block(name, sentence)
        # DEFER_UNTIL_END
        if state.until is None:
            return pack.block(name, f"{sentence}, with no end date yet")
        free = state.until + timedelta(days=1)
        until = day_start(free, c.timezone)
        return pack.defer(name, until, f"{sentence} until {state.until}; outreach from {free}")

    check.__name__ = rule_name(flag)
    return check
