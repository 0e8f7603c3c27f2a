"""The compliance officer's commands: override one action past one rule, explain a decision,
report decisions by rule, flags, preferences, holidays and the portfolio's rule pack."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from arrears.compliance.history import (
    STATUS,
    ActionNotFound,
    as_date,
    as_utc,
    parse_preferences,
)
from arrears.compliance.loading import (
    PackChoice,
    borrower_pack,
    load_pack,
    pack_choice,
    parse_pattern,
    portfolio_pack,
)
from arrears.compliance.rules.model import (
    Decision,
    Flag,
    Preferences,
    VerdictKind,
    parse_flag,
)
from arrears.compliance.send import check_action
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from arrears.store.schema import metadata
from arrears.store.sql import Dialect, dated
from arrears.store.tables_compliance import (
    borrower_flags,
    compliance_holidays,
    compliance_jurisdictions,
    compliance_overrides,
    compliance_settings,
    contact_preferences,
    gate_decisions,
    gate_rulings,
)


class OverrideRefused(ValueError):
    pass


def override_action(
    conn: Connection,
    action_id: int,
    *,
    rule_id: str,
    reason: str,
    by: str,
    at: datetime,
    keyring: KeyRing,
    rule_pack: str | None = None,
) -> Decision:
    """A compliance officer lets one action past one rule, with a reason; audited.

    Legal absolutes (a refusal, an opt-out, cease, bankruptcy, deceased, breathing space, an
    attorney) cannot be overridden. The action is judged again without the rule.
    """
    pack = load_pack(rule_pack or _action_pack(conn, action_id))
    rule = pack.rule(rule_id)
    if not rule.overridable:
        raise OverrideRefused(f"{rule_id} is a legal absolute and cannot be overridden")
    if len(reason.strip()) < 10:
        raise OverrideRefused("an override needs a reason a reviewer can follow (10+ characters)")
    conn.execute(
        insert(compliance_overrides).values(
            action_id=action_id, rule_id=rule_id, reason=reason, by=by, at=at
        )
    )
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.OVERRIDE,
        subject=f"action:{action_id}",
        detail={"rule": rule_id, "reason": reason},
        at=at,
    )
    dec = check_action(conn, action_id, at, rule_pack=pack.code)
    conn.execute(
        t.actions.update()
        .where(
            t.actions.c.id == action_id, t.actions.c.status.in_(["planned", "deferred", "blocked"])
        )
        .values(
            status=STATUS[dec.verdict],
            scheduled_at=dec.at.astimezone(UTC) if dec.at else None,
            rule_id=dec.rule_id,
            reason=None if dec.verdict is VerdictKind.ALLOW else dec.reason,
        )
    )
    return dec


def _action_pack(conn: Connection, action_id: int) -> str:
    """The pack the action's borrower is judged under."""
    borrower = conn.execute(
        select(t.cases.c.borrower_id)
        .join(t.actions, t.actions.c.case_id == t.cases.c.id)
        .where(t.actions.c.id == action_id)
    ).scalar()
    if borrower is None:
        raise ActionNotFound(action_id)
    return borrower_pack(conn, str(borrower))


# --- explain and report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    action: dict[str, Any]
    decisions: list[dict[str, Any]]  # oldest first, each with every rule consulted


def explain(conn: Connection, action_id: int) -> Explanation:
    action = conn.execute(select(t.actions).where(t.actions.c.id == action_id)).first()
    if action is None:
        raise ActionNotFound(action_id)
    out = []
    r = gate_rulings
    # the decision at planning first (on the action), then each later stage's in order
    planned = conn.execute(select(r).where(r.c.id == action.ruling_id)).all()
    later = conn.execute(
        select(r)
        .join(gate_decisions, gate_decisions.c.ruling_id == r.c.id)
        .where(gate_decisions.c.action_id == action_id)
        .order_by(gate_decisions.c.id)
    ).all()
    for g in [*planned, *later]:
        objections = {v["rule"]: v for v in json.loads(g.violations)}
        rules = [
            {
                "rule": rid,
                "verdict": objections.get(rid, {}).get("verdict", "allow"),
                "until": objections.get(rid, {}).get("until"),
                "message": objections.get(rid, {}).get("message", "no objection"),
            }
            for rid in g.consulted.split(",")
            if rid
        ]
        out.append(
            {
                "stage": g.stage,
                "pack": g.pack,
                "judged_at": _iso(g.decided_for),
                "verdict": g.verdict,
                "scheduled_at": _iso(g.scheduled_at),
                "rule_id": g.rule_id,
                "reason": g.reason,
                "rules": rules,
            }
        )
    a = action._mapping
    return Explanation(
        {
            "id": a["id"],
            "case_id": a["case_id"],
            "business_date": as_date(a["business_date"]).isoformat(),
            "step": a["step"],
            "target": f"{a['target_type']} {a['target_id']}",
            "channel": a["channel"],
            "template": a["template"],
            "status": a["status"],
        },
        out,
    )


def _iso(value: Any) -> str | None:
    moment = as_utc(value)
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class ReportLine:
    verdict: str
    rule_id: str
    count: int


def report(conn: Connection, start: date, end: date) -> list[ReportLine]:
    """Planning decisions from start to end counted by verdict and by the deciding rule: the
    rulings the actions of those days were planned under."""
    sql = Dialect.of(conn)
    rows = conn.execute(
        dated(
            f"""SELECT r.verdict, COALESCE(r.rule_id, '-') AS rule_id, COUNT(*)
                FROM actions a JOIN gate_rulings r ON r.id = a.ruling_id
                WHERE a.business_date BETWEEN {sql.date_param("a")} AND {sql.date_param("b")}
                GROUP BY r.verdict, COALESCE(r.rule_id, '-')
                ORDER BY r.verdict, COUNT(*) DESC""",
            "a",
            "b",
        ),
        {"a": start, "b": end},
    ).all()
    return [ReportLine(v, r, n) for v, r, n in rows]


# --- flags, preferences, holidays, the rule-pack setting ---------------------------------------

BREATHING_SPACE_DAYS = 60


def seed_demo_events(
    conn: Connection, keyring: KeyRing, borrower_ids: Sequence[str], start: date, seed: int
) -> int:
    """What a real portfolio brings the compliance officer, for the demo: a few borrowers dispute
    the debt, ask us to cease, enter a breathing space, or reply TD to stop SMS."""
    import random

    rng = random.Random(seed)
    at = datetime.combine(start, time(1), tzinfo=UTC)
    events = 0
    for bid in borrower_ids:
        roll = rng.random()
        when = start + timedelta(days=rng.randint(3, 30))
        if roll < 0.01:
            set_flag(conn, keyring, borrower_id=bid, flag="dispute", since=when, by="demo", at=at)
        elif roll < 0.015:
            set_flag(conn, keyring, borrower_id=bid, flag="cease", since=when, by="demo", at=at)
        elif roll < 0.02:
            set_flag(
                conn,
                keyring,
                borrower_id=bid,
                flag="breathing_space",
                since=when,
                by="demo",
                at=at,
            )
        elif roll < 0.05 and "comm_suppressions" in metadata.tables:
            number = conn.execute(
                select(t.borrowers.c.phone_index).where(t.borrowers.c.id == bid)
            ).scalar()
            if number:
                conn.execute(
                    insert(metadata.tables["comm_suppressions"]).values(
                        channel="sms", address_index=number, reason="opt_out", created_at=at
                    )
                )
        else:
            continue
        events += 1
    return events


def set_flag(
    conn: Connection,
    keyring: KeyRing,
    *,
    borrower_id: str,
    flag: str,
    since: date,
    by: str,
    at: datetime,
    until: date | None = None,
    note: str | None = None,
) -> int:
    """Flag a borrower (cease, dispute, …); a breathing space lasts 60 days unless told. Audited."""
    kind = parse_flag(flag)
    if kind is Flag.BREATHING_SPACE and until is None:
        until = since + timedelta(days=BREATHING_SPACE_DAYS - 1)
    flag_id = conn.execute(
        insert(borrower_flags)
        .values(
            borrower_id=borrower_id,
            flag=kind.value,
            since=since,
            until=until,
            note=note,
            set_by=by,
            set_at=at,
        )
        .returning(borrower_flags.c.id)
    ).scalar_one()
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.FLAG,
        subject=f"borrower:{borrower_id}",
        detail={
            "flag": kind.value,
            "since": since.isoformat(),
            "until": until.isoformat() if until else None,
            "action": "set",
        },
        at=at,
    )
    return int(flag_id)


def lift_flag(
    conn: Connection,
    keyring: KeyRing,
    *,
    borrower_id: str,
    flag: str,
    on: date,
    by: str,
    at: datetime,
) -> int:
    kind = parse_flag(flag)
    lifted = (
        conn.execute(
            borrower_flags.update()
            .where(
                borrower_flags.c.borrower_id == borrower_id,
                borrower_flags.c.flag == kind.value,
                borrower_flags.c.lifted_on.is_(None),
            )
            .values(lifted_on=on)
        ).rowcount
        or 0
    )
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.FLAG,
        subject=f"borrower:{borrower_id}",
        detail={"flag": kind.value, "action": "lift", "on": on.isoformat()},
        at=at,
    )
    return lifted


def set_preferences(
    conn: Connection,
    *,
    borrower_id: str,
    on: date,
    by: str,
    agreed_hours: str = "",
    inconvenient_hours: str = "",
    refused_channels: str = "",
) -> Preferences:
    """Record what the borrower told us ("07:30-08:00", "12:00-14:00", "call")."""
    prefs = parse_preferences(agreed_hours, inconvenient_hours, refused_channels)
    values = {
        "agreed_hours": agreed_hours,
        "inconvenient_hours": inconvenient_hours,
        "refused_channels": refused_channels,
        "updated_on": on,
        "updated_by": by,
    }
    done = conn.execute(
        contact_preferences.update()
        .where(contact_preferences.c.borrower_id == borrower_id)
        .values(**values)
    ).rowcount
    if not done:
        conn.execute(insert(contact_preferences).values(borrower_id=borrower_id, **values))
    return prefs


def add_holiday(conn: Connection, *, pack: str, day: date, name: str) -> None:
    load_pack(pack)
    exists = conn.execute(
        select(compliance_holidays.c.day).where(
            compliance_holidays.c.pack == pack, compliance_holidays.c.day == day
        )
    ).first()
    if exists is None:
        conn.execute(insert(compliance_holidays).values(pack=pack, day=day, name=name))


def set_rule_pack(
    conn: Connection, keyring: KeyRing, *, pack: str, by: str, reason: str, at: datetime
) -> str:
    """Change the portfolio's rule pack; the change is audited."""
    new = load_pack(pack).code
    old = portfolio_pack(conn)
    done = conn.execute(
        compliance_settings.update()
        .where(compliance_settings.c.key == "rule_pack")
        .values(value=new, changed_by=by, changed_at=at)
    ).rowcount
    if not done:
        conn.execute(
            insert(compliance_settings).values(
                key="rule_pack", value=new, changed_by=by, changed_at=at
            )
        )
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.RULE_PACK,
        subject="rule_pack",
        detail={"from": old, "to": new, "reason": reason},
        at=at,
    )
    return new


def map_jurisdiction(
    conn: Connection,
    keyring: KeyRing,
    *,
    pattern: str,
    pack: str | None,
    by: str,
    reason: str,
    at: datetime,
) -> PackChoice:
    """Judge the borrowers of a jurisdiction ("US-CA") or of a country's prefix ("US-*") under
    `pack`; `pack=None` removes the mapping (they fall back to the portfolio default). Takes
    effect at the next run, send and dial; audited."""
    key = parse_pattern(pattern)
    table = compliance_jurisdictions
    old = conn.execute(select(table.c.pack).where(table.c.pattern == key)).scalar()
    if pack is None:
        conn.execute(table.delete().where(table.c.pattern == key))
        new = None
    else:
        new = load_pack(pack).code
        done = conn.execute(
            table.update()
            .where(table.c.pattern == key)
            .values(pack=new, changed_by=by, changed_at=at)
        ).rowcount
        if not done:
            conn.execute(insert(table).values(pattern=key, pack=new, changed_by=by, changed_at=at))
    audit.append(
        conn,
        keyring,
        actor=by,
        kind=audit.AuditKind.RULE_PACK,
        subject=f"jurisdiction:{key}",
        detail={"from": old, "to": new, "reason": reason},
        at=at,
    )
    return pack_choice(conn)
