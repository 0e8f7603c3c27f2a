"""The send-time check: one action (`check_action`) or the dispatcher's batch (`check_actions`)
judged at the moment it is about to happen, the counters read again from the database; and
outreach an agent starts (`request_outreach`). Each action is judged under the rule pack of its
borrower's jurisdiction (`arrears.compliance.loading.pack_choice`) unless a pack is named."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, insert, text

from arrears.compliance.history import (
    STATUS,
    ActionNotFound,
    as_date,
    candidate_of,
    candidate_sql,
    decide_waived,
    load_counters,
    overrides_of,
    statement,
)
from arrears.compliance.loading import load_pack, pack_choice, portfolio_pack
from arrears.compliance.recording import record, ruling_row
from arrears.compliance.rules.model import (
    Audience,
    Channel,
    Decision,
    History,
    VerdictKind,
)
from arrears.store import tables as t
from arrears.store.sql import Dialect

# --- one action: at send time, or started by an agent --------------------------------------------


def check_action(
    conn: Connection,
    action_id: int,
    at: datetime,
    *,
    rule_pack: str | None = None,
    stage: str = "send",
) -> Decision:
    """Judge one action at the moment it is about to happen (dispatcher, agent workbench).

    The counters are read again from the database, so calls made since the nightly batch count.
    The decision is recorded (stage 'send', or 'dial' for a call placed now); the caller acts
    on it.
    """
    choice = None if rule_pack else pack_choice(conn)
    if choice is None:
        pack = load_pack(portfolio_pack(conn, rule_pack))
    else:
        load_pack(choice.default)  # fails closed before anything is read
    sql = Dialect.of(conn)
    row = conn.execute(text(candidate_sql(sql, "a.id = :aid")), {"aid": action_id}).first()
    if row is None:
        raise ActionNotFound(action_id)
    if choice is not None:
        pack = load_pack(choice.code_for(row.jurisdiction))
    d = as_date(row.business_date)
    scope = "s.id = :aid"
    params: dict[str, Any] = {"aid": action_id}
    k = load_counters(conn, d, pack, scope, params, exclude=action_id, by_number=True)
    c, h = candidate_of(row, k)
    waived = overrides_of(conn, scope, params).get(action_id, set())
    dec = decide_waived(c, h, pack, at, waived)
    record(conn, [(action_id, ruling_row(uuid.uuid4().hex, stage, d, at, dec))])
    return dec


def check_actions(
    conn: Connection, action_ids: Iterable[int], at: datetime, *, rule_pack: str | None = None
) -> dict[int, Decision]:
    """Judge many actions at one moment (the dispatcher's batch): exactly what `check_action`
    decides for each one by one, in one set of queries per business date of the batch.

    Ids that name no action are left out of the answer. Every decision is recorded (stage
    'send'; alike decisions share one ruling).
    """
    ids = sorted(set(action_ids))
    if not ids:
        return {}
    choice = None if rule_pack else pack_choice(conn)
    forced = load_pack(portfolio_pack(conn, rule_pack)) if choice is None else None
    if choice is not None:
        load_pack(choice.default)  # fails closed before anything is read
    sql = Dialect.of(conn)
    rows = conn.execute(statement(candidate_sql(sql, "a.id IN :ids")), {"ids": ids}).all()
    by_day: defaultdict[tuple[date, str], list[Any]] = defaultdict(list)
    for row in rows:
        code = forced.code if forced is not None else choice.code_for(row.jurisdiction)  # type: ignore[union-attr]
        by_day[(as_date(row.business_date), code)].append(row)
    packs = {code: forced or load_pack(code) for _, code in by_day}
    decisions: dict[int, Decision] = {}
    recorded: list[tuple[int, dict[str, Any]]] = []
    batch = uuid.uuid4().hex
    for (d, code), group in sorted(by_day.items()):
        pack = packs[code]
        scope = "s.id IN :ids"
        params: dict[str, Any] = {"ids": [row.id for row in group]}
        k = load_counters(conn, d, pack, scope, params, exclude=-1, by_number=True)
        waived = overrides_of(conn, scope, params)
        for row in group:
            c, h = candidate_of(row, k)
            h = _without_itself(row, d, h)
            dec = decide_waived(c, h, pack, at, waived.get(row.id, set()))
            decisions[row.id] = dec
            recorded.append((row.id, ruling_row(batch, "send", d, at, dec)))
    record(conn, recorded)
    return decisions


def _without_itself(row: Any, d: date, h: History) -> History:
    """The batch's counters include every call planned for the day, the judged action too;
    `check_action` leaves the judged action out (`exclude`): take its own attempt back."""
    m = row._mapping
    counted = (
        m["channel"] == Channel.CALL.value
        and m["status"] == "planned"
        and m["scheduled_at"] is not None
        and as_date(m["business_date"]) == d
    )
    if not counted:
        return h
    attempts = h.attempts_today_on_number
    if m["number_index"]:
        attempts -= 1
    days = h.attempt_days_on_debt
    if m["target_type"] == Audience.BORROWER.value and d in days:
        at = days.index(d)
        days = days[:at] + days[at + 1 :]
    return replace(h, attempts_today_on_number=attempts, attempt_days_on_debt=days)


def request_outreach(
    conn: Connection,
    *,
    case_id: int,
    target_type: str,
    target_id: str,
    channel: str,
    template: str,
    at: datetime,
    business_date: date,
    agent: str,
    rule_pack: str | None = None,
) -> tuple[int, Decision]:
    """An agent wants to call or message now: the action is recorded and passes the same gate."""
    action_id = conn.execute(
        insert(t.actions)
        .values(
            case_id=case_id,
            business_date=business_date,
            step=f"agent_{agent}_{at.astimezone(UTC):%H%M%S%f}"[:64],
            target_type=Audience(target_type).value,
            target_id=target_id,
            channel=Channel(channel).value,
            template=template,
            status="planned",
            priority=5,
        )
        .returning(t.actions.c.id)
    ).scalar_one()
    dec = check_action(conn, action_id, at, rule_pack=rule_pack)
    conn.execute(
        t.actions.update()
        .where(t.actions.c.id == action_id)
        .values(
            status=STATUS[dec.verdict],
            scheduled_at=dec.at.astimezone(UTC) if dec.at else None,
            rule_id=dec.rule_id,
            reason=None if dec.verdict is VerdictKind.ALLOW else dec.reason,
        )
    )
    return action_id, dec
