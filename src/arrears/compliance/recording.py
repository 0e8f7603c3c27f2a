"""A recorded decision of the gate, for every stage: its content once per kind of decision
(`gate_rulings`: the moment judged, verdict, reason, every rule consulted and each objection),
named by the action at planning (`actions.ruling_id`, written with the action by the nightly
gate, `compliance/batch.py`) and by one narrow row per action decided at any later stage
(`gate_decisions`).

`ruling_row` is what a decision records; `record` writes the decisions of a few actions (the
send-time check, the dispatcher's batch, the carry-over), alike ones sharing a ruling;
`insert_rulings` writes a night's rulings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, insert

from arrears.compliance.rules.model import Decision
from arrears.store.bulk import insert_rows
from arrears.store.tables_compliance import gate_decisions, gate_rulings

RULING = tuple(c.name for c in gate_rulings.columns if c.name != "id")
# the ruling's columns each action's row carries too (`gate_decisions`)
COPIED = ("business_date", "stage", "verdict", "rule_id")


def ruling_row(batch: str, stage: str, d: date, at: datetime, dec: Decision) -> dict[str, Any]:
    """The decision `dec` taken at `at` for business date `d`, as `gate_rulings` records it."""
    return {
        "batch": batch,
        "business_date": d,
        "stage": stage,
        "pack": dec.pack,
        "decided_for": at.astimezone(UTC),
        "verdict": dec.verdict.value,
        "scheduled_at": dec.at.astimezone(UTC) if dec.at else None,
        "rule_id": dec.rule_id,
        "reason": dec.reason,
        "consulted": ",".join(c.rule_id for c in dec.consulted),
        "violations": json.dumps(
            [
                {
                    "rule": v.rule_id,
                    "verdict": v.verdict.value,
                    "until": v.until.astimezone(UTC).isoformat() if v.until else None,
                    "message": v.message,
                }
                for v in dec.violations
            ],
            ensure_ascii=False,
        ),
    }


def insert_rulings(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Write the rulings; their ids, in the order of `rows`."""
    if not rows:
        return []
    stmt = insert(gate_rulings).returning(gate_rulings.c.id, sort_by_parameter_order=True)
    return [int(i) for i in conn.execute(stmt, [{c: r[c] for c in RULING} for r in rows]).scalars()]


def record(conn: Connection, decided: Iterable[tuple[int, dict[str, Any]]]) -> None:
    """Record each (action id, `ruling_row`): equal rulings are written once."""
    rulings: list[dict[str, Any]] = []
    index: dict[tuple[Any, ...], int] = {}
    actions: list[tuple[int, int]] = []
    for action_id, row in decided:
        key = tuple(row[c] for c in RULING)
        at = index.setdefault(key, len(rulings))
        if at == len(rulings):
            rulings.append(row)
        actions.append((action_id, at))
    ids = insert_rulings(conn, rulings)
    insert_rows(
        conn,
        gate_decisions,
        [
            {"action_id": a, "ruling_id": ids[at], **{c: rulings[at][c] for c in COPIED}}
            for a, at in actions
        ],
    )
