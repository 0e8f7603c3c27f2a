"""The dispatcher asks the rule pack at the moment of sending (the batch check): a message the pack
allows only later — later today, or tomorrow morning — waits until exactly then; a blocked one is
blocked with the pack's rule — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select

from arrears.channels.filesink import FileSink
from arrears.compliance import loading
from arrears.compliance.loading import RulePackUnavailable
from arrears.compliance.officer import set_preferences
from arrears.privacy.keyring import KeyRing
from arrears.services.dispatch import RulePackGate, default_gate, dispatch_once
from arrears.store import tables as t
from arrears.store.tables_compliance import borrower_flags, compliance_settings
from tests.integration.channels.outbox import DAY, queue_messages

TEN = datetime(2026, 3, 2, 2, tzinfo=UTC)  # 10:00 in Shanghai
NOON = datetime(2026, 3, 2, 4, tzinfo=UTC)
LATE = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
TOMORROW_EIGHT = datetime(2026, 3, 3, 0, tzinfo=UTC)


def outbox(db: Engine) -> dict[int, tuple[str, datetime | None, int]]:
    with db.connect() as conn:
        rows = conn.execute(
            select(t.outbox.c.id, t.outbox.c.status, t.outbox.c.not_before, t.outbox.c.attempts)
        )
        return {r.id: (r.status, _utc(r.not_before), r.attempts) for r in rows}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_rule_pack_at_send_time(db: Engine, keyring: KeyRing, tmp_path) -> None:
    gate = default_gate()
    assert isinstance(gate, RulePackGate)
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 3)
        # borrower 1 said 09:00-12:00 does not suit; borrower 2 disputes the debt
        set_preferences(
            conn, borrower_id="B1", on=DAY, by="agent", inconvenient_hours="09:00-12:00"
        )
        conn.execute(
            insert(borrower_flags).values(
                borrower_id="B2", flag="dispute", since=DAY, set_by="agent", set_at=TEN
            )
        )
    report = dispatch_once(db, keyring, FileSink(tmp_path), TEN, gate=gate)
    assert (report.sent, report.deferred, report.blocked) == (1, 1, 1)
    rows = outbox(db)
    assert rows[ids[0]][0] == "sent"
    # allowed from noon, not now: waits until exactly then, and it was no failed attempt
    assert rows[ids[1]] == ("pending", NOON, 0)
    assert rows[ids[2]][0] == "blocked"
    with db.connect() as conn:
        action = conn.execute(
            select(t.actions.c.status, t.actions.c.rule_id)
            .join(t.outbox, t.outbox.c.action_id == t.actions.c.id)
            .where(t.outbox.c.id == ids[2])
        ).one()
    assert tuple(action) == ("blocked", "cn.flag_dispute")
    assert (
        dispatch_once(db, keyring, FileSink(tmp_path), NOON.replace(hour=3), gate=gate).claimed == 0
    )
    assert dispatch_once(db, keyring, FileSink(tmp_path), NOON, gate=gate).sent == 1


def test_late_evening_waits_for_the_morning(db: Engine, keyring: KeyRing, tmp_path) -> None:
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 2)
    report = dispatch_once(db, keyring, FileSink(tmp_path), LATE, gate=default_gate())
    assert (report.sent, report.deferred) == (0, 2)
    assert {outbox(db)[i] for i in ids} == {("pending", TOMORROW_EIGHT, 0)}


@pytest.mark.parametrize("broken", ["unknown pack", "pack module fails"])
def test_a_rule_pack_that_cannot_load_sends_nothing(
    db: Engine, keyring: KeyRing, tmp_path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 2)
        if broken == "unknown pack":
            conn.execute(
                insert(compliance_settings).values(
                    key="rule_pack", value="atlantis", changed_by="officer", changed_at=TEN
                )
            )
    if broken == "pack module fails":

        def fails(code: str) -> object:
            raise SyntaxError("invalid syntax (packs.py, line 1)")

        monkeypatch.setattr(loading, "_get_pack", fails)
    sink = tmp_path / "sent"
    with pytest.raises(RulePackUnavailable, match="cannot be loaded"):
        dispatch_once(db, keyring, FileSink(sink), TEN, gate=default_gate())
    assert {outbox(db)[i][0] for i in ids} == {"pending"}  # nothing sent, nothing lost
    assert not sink.exists() or not any(sink.rglob("*.*"))
