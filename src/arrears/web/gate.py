"""Whether a call or message may be made now, as the rule pack says.

Asks `arrears.services.compliance.check_action(conn, action_id, at)` (the compliance area's
gate). Until that exists, the daily run's verdict stored on the action is used: a blocked action
stays blocked with its rule and reason; a deferred or future-scheduled one is allowed from its
scheduled time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None
    rule_id: str | None = None
    next_allowed_at: datetime | None = None


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _from_service(result: Any, at: datetime) -> Verdict:
    if isinstance(result, Verdict):
        return result
    if hasattr(result, "allowed_now"):  # arrears.domain.compliance.model.Decision
        ok = bool(result.allowed_now(at))
        nxt = None if ok or str(result.verdict) == "block" else _aware(result.at)
        return Verdict(ok, None if ok else result.reason, result.rule_id, nxt)
    allowed = getattr(result, "allowed", None)
    if allowed is None:
        decision = str(getattr(result, "decision", getattr(result, "status", "allow")))
        allowed = decision in ("allow", "allowed")
    reason = getattr(result, "reason", None) or getattr(result, "message", None)
    rule = getattr(result, "rule_id", None) or getattr(result, "rule", None)
    nxt = (
        getattr(result, "next_allowed_at", None)
        or getattr(result, "next_allowed", None)
        or getattr(result, "defer_to", None)
        or getattr(result, "not_before", None)
    )
    return Verdict(bool(allowed), reason, str(rule) if rule else None, _aware(nxt))


def _from_action(action: Any, at: datetime) -> Verdict:
    if action.status == "blocked":
        return Verdict(False, action.reason or "blocked by the rule pack", action.rule_id)
    if action.status in ("done", "cancelled"):
        return Verdict(False, f"this action is {action.status}")
    scheduled = _aware(action.scheduled_at)
    if scheduled is not None and scheduled > at:
        return Verdict(
            False,
            action.reason or "outside the hours the rule pack allows",
            action.rule_id,
            scheduled,
        )
    return Verdict(True)


def check(
    conn: Connection, action: Any, at: datetime, *, live: bool = True, record: bool = True
) -> Verdict:
    """The verdict for an `actions` row at the moment `at`: from the rule pack now (`live`, the
    moment a call is placed; the gate records the decision unless record=False), or from the
    verdict the daily gate stored on the action (lists and forms: no rule evaluation)."""
    if not live:
        return _from_action(action, at)
    if action.status in ("blocked", "done", "cancelled"):
        return _from_action(action, at)
    if action.channel == "task" or action.status not in ("planned", "deferred"):
        return _from_action(action, at)  # an agent's task, or a message already on its way
    try:
        from arrears.services.compliance import check_action
    except ImportError:
        return _from_action(action, at)
    if record:
        return _from_service(check_action(conn, action.id, at), at)
    with conn.begin_nested() as peek:
        verdict = _from_service(check_action(conn, action.id, at), at)
        peek.rollback()
    return verdict
