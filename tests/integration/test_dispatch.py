"""The dispatcher over the outbox, with the file sink: claims, gate at send time, rendering,
retries, dead letters, crash recovery, receipts and opt-outs — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select, update

from arrears.channels.base import (
    Accepted,
    ChannelEvent,
    ChannelUnavailable,
    DeliveryReceipt,
    InboundMessage,
    MessageRejected,
    OutgoingMessage,
    ReceiptState,
    SendOutcome,
)
from arrears.channels.filesink import FileSink
from arrears.compliance.port import Verdict, VerdictKind
from arrears.privacy.keyring import KeyRing
from arrears.services.dispatch import (
    AllowAll,
    DispatchConfig,
    Dispatcher,
    apply_events,
    dispatch_once,
)
from arrears.store import tables as t
from arrears.store.tables_comms import comm_sends, comm_suppressions
from tests.integration.channels.outbox import AT, contact_message, phone_of, queue_messages

NOW = AT + timedelta(minutes=5)


def statuses(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(t.outbox.c.id, t.outbox.c.status)).all())


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def test_file_sink_gets_one_rendered_line_per_due_message(db: Engine, keyring: KeyRing, tmp_path):
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 3, name="王芳")
        later = queue_messages(conn, keyring, 1, start=10, not_before=NOW + timedelta(hours=3))
    sink = FileSink(tmp_path / "out")
    report = dispatch_once(db, keyring, sink, NOW, gate=AllowAll())
    assert report.sent == 3 and report.claimed == 3
    written = lines(tmp_path / "out" / "sms.jsonl")
    assert [w["outbox_id"] for w in written] == ids
    body = str(written[0]["body"])
    assert "王芳0您好" in body and "¥1,234.50" in body and "2026年3月1日" in body
    assert "https://pay.example.cn/b/" in body
    st = statuses(db)
    assert all(st[i] == "sent" for i in ids) and st[later[0]] == "pending"
    with db.connect() as conn:
        acts = conn.execute(select(t.actions.c.status)).scalars().all()
        assert sorted(acts) == ["queued", "sent", "sent", "sent"]
        outcomes = conn.execute(select(t.interactions.c.outcome)).scalars().all()
        assert outcomes == ["sent"] * 3
        assert conn.execute(select(comm_sends.c.segments)).scalars().all() == [2, 2, 2]
    # nothing is due any more: a second run sends nothing and writes nothing
    assert dispatch_once(db, keyring, sink, NOW, gate=AllowAll()).sent == 0
    assert len(lines(tmp_path / "out" / "sms.jsonl")) == 3


def test_limit_and_english(db: Engine, keyring: KeyRing, tmp_path):
    with db.begin() as conn:
        queue_messages(conn, keyring, 5, language="en", name="Alice Smith")
    sink = FileSink(tmp_path)
    assert dispatch_once(db, keyring, sink, NOW, limit=2, gate=AllowAll()).sent == 2
    body = str(lines(tmp_path / "sms.jsonl")[0]["body"])
    assert body.startswith("Hello Alice Smith0,") and "CN¥1,234.50" in body and "1 Mar 2026" in body


class ScriptedGate:
    def __init__(self, decisions: Mapping[int, Verdict]) -> None:
        self.decisions = decisions

    def check(self, conn: Connection, action_ids: Sequence[int], at: datetime):
        return {a: self.decisions[a] for a in action_ids if a in self.decisions}


def test_gate_at_send_time_defers_and_blocks(db: Engine, keyring: KeyRing, tmp_path):
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 3)
        action_of = dict(conn.execute(select(t.outbox.c.id, t.outbox.c.action_id)).all())
    later = NOW + timedelta(hours=2)
    gate = ScriptedGate(
        {
            action_of[ids[0]]: Verdict(VerdictKind.DEFER, "cn.hours", "outside 08:00-21:00", later),
            action_of[ids[1]]: Verdict(VerdictKind.BLOCK, "cn.daily_cap", "3 messages today"),
        }
    )
    report = dispatch_once(db, keyring, FileSink(tmp_path), NOW, gate=gate)
    assert (report.sent, report.deferred, report.blocked) == (1, 1, 1)
    with db.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(t.outbox))}
        assert rows[ids[0]].status == "pending" and rows[ids[0]].attempts == 0
        assert rows[ids[0]].not_before.replace(tzinfo=None) == later.replace(tzinfo=None)
        assert rows[ids[1]].status == "blocked" and rows[ids[1]].error == "3 messages today"
        act = conn.execute(select(t.actions).where(t.actions.c.id == action_of[ids[1]])).one()
        assert (act.status, act.rule_id) == ("blocked", "cn.daily_cap")
    # at the allowed time the deferred message goes
    report = dispatch_once(db, keyring, FileSink(tmp_path), later, gate=AllowAll())
    assert report.sent == 1 and statuses(db)[ids[0]] == "sent"


class Flaky:
    """Transient failures for the first `fail` calls, a permanent rejection for one number."""

    resend_safe = False
    name = "flaky"

    def __init__(self, fail: int, reject_to: str | None = None) -> None:
        self.fail, self.reject_to, self.calls = fail, reject_to, 0
        self.delivered: list[int] = []

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        self.calls += 1
        out: list[SendOutcome] = []
        for m in messages:
            if m.to == self.reject_to:
                out.append(MessageRejected("ESME_RINVDSTADR: invalid destination"))
            elif self.calls <= self.fail:
                out.append(ChannelUnavailable("ESME_RTHROTTLED"))
            else:
                self.delivered.append(m.outbox_id)
                out.append(Accepted((f"p{m.outbox_id}",)))
        return out

    def poll_events(self) -> list[ChannelEvent]:
        return []

    def flush(self) -> None: ...

    def close(self) -> None: ...


def test_transient_errors_back_off_then_go_permanent_ones_are_dead(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 2)
    channel = Flaky(fail=1, reject_to=phone_of(1))
    config = DispatchConfig(backoff_base=timedelta(seconds=30), max_attempts=3)
    report = dispatch_once(
        db, keyring, {"sms": channel}, NOW, gate=AllowAll(), config=config, rng=random.Random(1)
    )
    assert (report.retried, report.dead, report.sent) == (1, 1, 0)
    with db.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(t.outbox))}
    assert rows[ids[1]].status == "dead" and "RINVDSTADR" in rows[ids[1]].error
    retry_at = rows[ids[0]].not_before.replace(tzinfo=None)
    assert rows[ids[0]].status == "pending" and retry_at >= (NOW + timedelta(seconds=30)).replace(
        tzinfo=None
    )
    # not yet due: nothing happens; once due it is sent
    assert dispatch_once(db, keyring, {"sms": channel}, NOW, gate=AllowAll()).claimed == 0
    report = dispatch_once(db, keyring, {"sms": channel}, NOW + timedelta(hours=1), gate=AllowAll())
    assert report.sent == 1 and channel.delivered == [ids[0]]


def test_always_failing_provider_ends_dead_after_max_attempts(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        (oid,) = queue_messages(conn, keyring, 1)
    channel = Flaky(fail=99)
    config = DispatchConfig(max_attempts=3, backoff_base=timedelta(seconds=1))
    moment = NOW
    for _ in range(3):
        dispatch_once(db, keyring, {"sms": channel}, moment, gate=AllowAll(), config=config)
        moment += timedelta(hours=3)
    assert statuses(db)[oid] == "dead"
    assert channel.calls == 3


def abandoned(conn: Connection, status: str) -> None:
    """Every outbox row held in `status` by a worker that died (its lease has run out)."""
    conn.execute(
        update(t.outbox).values(
            status=status,
            claimed_by="dead-worker",
            lease_until=NOW - timedelta(minutes=1),
            attempts=1,
        )
    )


def test_crash_recovery_never_resends_blindly(db: Engine, keyring: KeyRing, tmp_path):
    with db.begin() as conn:
        sms = queue_messages(conn, keyring, 2)
        push = queue_messages(conn, keyring, 1, start=5, channel="push", template="reminder")
        # a worker claimed them and died: rows stay `sending` with an expired lease
        abandoned(conn, "sending")
    sink = FileSink(tmp_path)
    report = dispatch_once(db, keyring, {"sms": Flaky(0), "push": sink}, NOW, gate=AllowAll())
    st = statuses(db)
    # SMS: the provider cannot de-duplicate -> unknown, surfaced; push: re-sent with its key
    assert [st[i] for i in sms] == ["unknown", "unknown"]
    assert st[push[0]] == "sent"
    assert (report.recovered_unknown, report.recovered_pending, report.sent) == (2, 1, 1)


def test_rows_claimed_but_never_handed_over_are_simply_due_again(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        sms = queue_messages(conn, keyring, 2)
        # a worker prepared the next batch and died before handing it to the SMSC
        abandoned(conn, "claimed")
    channel = Flaky(0)
    report = dispatch_once(db, keyring, {"sms": channel}, NOW, gate=AllowAll())
    st = statuses(db)
    assert [st[i] for i in sms] == ["sent", "sent"]
    assert (report.recovered_unknown, report.recovered_pending, channel.calls) == (0, 2, 1)
    with db.connect() as conn:
        attempts = conn.execute(select(t.outbox.c.attempts).order_by(t.outbox.c.id)).scalars()
        assert list(attempts) == [1, 1]  # the lost claim was not an attempt


def test_a_live_claim_is_left_alone(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        queue_messages(conn, keyring, 1)
        conn.execute(
            update(t.outbox).values(
                status="claimed", claimed_by="busy-worker", lease_until=NOW + timedelta(minutes=1)
            )
        )
    report = dispatch_once(db, keyring, {"sms": Flaky(0)}, NOW, gate=AllowAll())
    assert report.claimed == 0 and set(statuses(db).values()) == {"claimed"}


class FailsOnSecondBatch:
    """A gate whose database call fails while the first batch is on the wire."""

    def __init__(self) -> None:
        self.calls = 0

    def check(
        self, conn: Connection, action_ids: Sequence[int], at: datetime
    ) -> Mapping[int, Verdict]:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("database went away")
        return {}


def test_a_failure_while_a_batch_is_on_the_wire_still_records_that_batch(
    db: Engine, keyring: KeyRing
):
    with db.begin() as conn:
        first, second = queue_messages(conn, keyring, 2)
    dispatcher = Dispatcher(
        db, keyring, {"sms": Flaky(0)}, gate=FailsOnSecondBatch(), config=DispatchConfig(1)
    )
    with pytest.raises(RuntimeError, match="went away"):
        dispatcher.run_once(NOW)
    st = statuses(db)
    # the first was sent and is recorded so; the second's claim rolled back with the failure
    assert (st[first], st[second]) == ("sent", "pending")


def test_contact_message_says_nothing_about_the_debt(db: Engine, keyring: KeyRing, tmp_path):
    with db.begin() as conn:
        queue_messages(conn, keyring, 1, name="王芳")
        conn.execute(update(t.outbox).values(status="sent"))
        oid = contact_message(conn, keyring, 0, name="李伟")
    dispatch_once(db, keyring, FileSink(tmp_path), NOW, gate=AllowAll())
    (line,) = lines(tmp_path / "sms.jsonl")
    assert line["outbox_id"] == oid and line["audience"] == "contact"
    body = str(line["body"])
    assert "李伟" in body and "芳" in body and "400-000-0000" in body
    for leak in ("王芳", "1,234.50", "逾期", "还款", "欠", "示例消费金融", "http"):
        assert leak not in body


def test_contact_without_consent_or_borrower_template_is_blocked(db: Engine, keyring, tmp_path):
    with db.begin() as conn:
        queue_messages(conn, keyring, 2)
        conn.execute(update(t.outbox).values(status="sent"))
        no_consent = contact_message(conn, keyring, 0, consent=False)
        wrong_template = contact_message(
            conn, keyring, 1, template="reminder", phone="+8613900000003"
        )
    report = dispatch_once(db, keyring, FileSink(tmp_path), NOW, gate=AllowAll())
    st = statuses(db)
    assert st[no_consent] == "blocked" and st[wrong_template] == "blocked"
    assert report.sent == 0 and not (tmp_path / "sms.jsonl").exists()


def test_receipts_and_opt_out_change_state(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 3)
    dispatch_once(db, keyring, {"sms": Flaky(0)}, NOW, gate=AllowAll())
    events: list[ChannelEvent] = [
        DeliveryReceipt("sms", f"p{ids[0]}", ReceiptState.DELIVERED),
        DeliveryReceipt("sms", f"p{ids[1]}", ReceiptState.FAILED, "UNDELIV"),
        DeliveryReceipt("sms", "nobody", ReceiptState.DELIVERED),
        InboundMessage("sms", phone_of(2).lstrip("+"), "退订"),
    ]
    report = apply_events(db, keyring, events, NOW)
    assert (report.receipts, report.inbound, report.opt_outs) == (3, 1, 1)
    st = statuses(db)
    assert [st[i] for i in ids] == ["delivered", "failed", "sent"]
    with db.connect() as conn:
        outcomes = dict(
            conn.execute(select(t.interactions.c.action_id, t.interactions.c.outcome)).all()
        )
        assert sorted(outcomes.values()) == ["delivered", "failed", "sent"]
        assert (
            conn.execute(select(comm_suppressions.c.address_index)).scalars().all()
            == [keyring.blind_index(phone_of(2))] * 2
        )
    # the opted-out number gets nothing more
    with db.begin() as conn:
        again = queue_messages(conn, keyring, 1, start=2 + 1000)
        conn.execute(
            update(t.borrowers)
            .where(t.borrowers.c.id == "B1002")
            .values(
                phone_index=keyring.blind_index(phone_of(2)), phone_enc=keyring.encrypt(phone_of(2))
            )
        )
    report = dispatch_once(db, keyring, {"sms": Flaky(0)}, NOW, gate=AllowAll())
    assert report.blocked == 1 and statuses(db)[again[0]] == "blocked"
