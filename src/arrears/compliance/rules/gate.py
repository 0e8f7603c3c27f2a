"""The gate: one pure function decides every candidate outreach under a rule pack.

Every rule is consulted at the asked moment. Blocks win. Deferrals move the moment forward to
the latest `until` they ask for, and the rules are consulted again there, until no rule objects.
A moment still on the candidate's business date is an allow (scheduled then); a later one is a
deferral, named after the rule that pushed the outreach off its day.
"""

from __future__ import annotations

from datetime import datetime

from arrears.compliance.rules.clock import local_date
from arrears.compliance.rules.model import (
    Candidate,
    Channel,
    Consulted,
    Decision,
    History,
    VerdictKind,
    Violation,
)
from arrears.compliance.rules.pack import Pack

MAX_ROUNDS = 16


def _consult(c: Candidate, h: History, pack: Pack, at: datetime) -> list[Consulted]:
    return [
        Consulted(rid, rule.check(c, h, pack, at))
        for rid, rule in zip(pack.rule_ids, pack.rules, strict=True)
    ]


def decide(candidate: Candidate, history: History, pack: Pack, at: datetime) -> Decision:
    """Allow (at a moment), defer (to a moment) or block (rule id + a sentence) one outreach."""
    if at.tzinfo is None:
        raise ValueError("the gate judges aware moments; pass `at` with a time zone (UTC)")
    if candidate.channel is Channel.TASK:
        return Decision(
            VerdictKind.ALLOW, at, None, "an internal task reaches nobody", (), pack.code
        )
    first = _consult(candidate, history, pack, at)
    seen: dict[str, Violation | None] = {c.rule_id: c.violation for c in first}
    moment = at
    pushed_off: Violation | None = None  # the deferral that moved it off its business date
    moved_by: list[Violation] = []
    consulted = first
    changed = False  # whether a later round raised an objection the first did not

    def merged() -> tuple[Consulted, ...]:
        return _merge(first, seen) if changed else tuple(first)

    for _ in range(MAX_ROUNDS):
        blocks = [c.violation for c in consulted if c.violation and c.verdict is VerdictKind.BLOCK]
        if blocks:
            return Decision(
                VerdictKind.BLOCK,
                None,
                blocks[0].rule_id,
                blocks[0].message,
                merged(),
                pack.code,
            )
        defers = [c.violation for c in consulted if c.violation and c.verdict is VerdictKind.DEFER]
        if not defers:
            break
        latest = max(defers, key=lambda v: v.until or moment)
        moved_by.append(latest)
        for v in defers:
            if v.until and local_date(v.until, candidate.timezone) > candidate.business_date:
                pushed_off = pushed_off or v
        moment = max(moment, latest.until or moment)
        consulted = _consult(candidate, history, pack, moment)
        for c in consulted:
            if seen.get(c.rule_id) is None and c.violation is not None:
                seen[c.rule_id] = c.violation
                changed = True
    else:
        last = moved_by[-1]
        return Decision(
            VerdictKind.DEFER,
            moment,
            last.rule_id,
            f"{last.message} (no allowed moment within {MAX_ROUNDS} steps; re-checked then)",
            merged(),
            pack.code,
        )
    consulted_once = merged()
    on_its_day = local_date(moment, candidate.timezone) <= max(
        candidate.business_date, local_date(at, candidate.timezone)
    )
    if moment == at or (on_its_day and pushed_off is None):
        movers = ", ".join(dict.fromkeys(v.rule_id for v in moved_by))
        reason = f"allowed from {moment:%Y-%m-%d %H:%M %Z} ({movers})" if movers else "allowed"
        return Decision(VerdictKind.ALLOW, moment, None, reason, consulted_once, pack.code)
    cause = pushed_off or moved_by[-1]
    return Decision(
        VerdictKind.DEFER, moment, cause.rule_id, cause.message, consulted_once, pack.code
    )


def _merge(first: list[Consulted], seen: dict[str, Violation | None]) -> tuple[Consulted, ...]:
    """Every rule once, with the first objection it raised on the way (None: it never objected)."""
    return tuple(Consulted(c.rule_id, seen.get(c.rule_id)) for c in first)
