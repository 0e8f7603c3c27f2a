"""SMS over SMPP against a real SMPP peer (smpp34 server on loopback), through the dispatcher."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from arrears.channels.smpp import SmppChannel, SmppSettings
from arrears.channels.sms_text import decode
from arrears.privacy.keyring import KeyRing
from arrears.services.dispatch import AllowAll, DispatchConfig, Dispatcher, DispatchReport
from arrears.store import tables as t
from arrears.store.tables_comms import comm_provider_refs, comm_sends
from tests.integration.channels.outbox import AT, phone_of, queue_messages
from tests.integration.channels.smsc import Smsc

NOW = AT + timedelta(minutes=5)


def channel(port: int, **kw) -> SmppChannel:
    return SmppChannel(
        SmppSettings(
            "127.0.0.1",
            port,
            "arrears",
            "secret",
            "106900001234",
            signature={"zh-CN": "示例消费金融", "en": "Example Finance"},
            opt_out={"zh-CN": "拒收请回复TD", "en": "Reply STOP to opt out"},
            **kw,
        ),
        sleep=lambda s: None,
    )


def statuses(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(t.outbox.c.id, t.outbox.c.status)).all())


def drain(dispatcher: Dispatcher, sms: SmppChannel, seconds: float = 1.0) -> DispatchReport:
    """Listen for receipts and inbound messages, then record them."""
    report = DispatchReport()
    deadline = time.monotonic() + seconds
    events = []
    while time.monotonic() < deadline:
        events += sms.listen(0.1)
    from arrears.services.dispatch import apply_events

    return apply_events(dispatcher.engine, dispatcher.keyring, events, NOW, report)


def test_sms_sent_as_ucs2_with_signature_then_receipts_mark_delivered(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 20)
    with Smsc(receipts="DELIVRD") as smsc:
        sms = channel(smsc.port)
        dispatcher = Dispatcher(db, keyring, {"sms": sms}, gate=AllowAll())
        report = dispatcher.run_once(NOW)
        assert report.sent == 20
        # every borrower got exactly one message, in n concatenated UCS-2 parts
        (n,) = set(smsc.counts().values())
        assert n >= 2 and len(smsc.counts()) == 20 and report.segments == 20 * n
        # parts may reach the SMSC's handler in any order (the handset reassembles them by
        # their UDH sequence number): read them in that order
        parts = sorted(smsc.messages_to(phone_of(0).lstrip("+")), key=lambda p: p.payload[5])
        assert {p.data_coding for p in parts} == {8} and {p.esm_class for p in parts} == {0x40}
        assert [p.payload[:3] for p in parts] == [b"\x05\x00\x03"] * n
        assert [p.payload[4:6] for p in parts] == [bytes((n, i)) for i in range(1, n + 1)]
        assert all(len(p.payload) - 6 <= 134 for p in parts)  # 67 UCS-2 characters a part
        text = "".join(decode(p.payload[6:], 8) for p in parts)
        assert text.startswith("【示例消费金融】王芳0您好") and text.endswith("拒收请回复TD")
        assert len(text) > 70
        with db.connect() as conn:
            assert set(conn.execute(select(comm_sends.c.segments)).scalars()) == {n}
            assert conn.execute(select(comm_provider_refs)).all()  # the second parts' ids
        drain(dispatcher, sms)
        sms.close()
    st = statuses(db)
    assert all(st[i] == "delivered" for i in ids)
    with db.connect() as conn:
        assert set(conn.execute(select(t.interactions.c.outcome)).scalars()) == {"delivered"}
        assert set(conn.execute(select(t.actions.c.status)).scalars()) == {"delivered"}


def test_failed_receipt_marks_failed(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        (oid,) = queue_messages(conn, keyring, 1)
    with Smsc(receipts="UNDELIV") as smsc:
        sms = channel(smsc.port)
        dispatcher = Dispatcher(db, keyring, {"sms": sms}, gate=AllowAll())
        assert dispatcher.run_once(NOW).sent == 1
        drain(dispatcher, sms, 0.5)
        sms.close()
    assert statuses(db)[oid] == "failed"


def test_inbound_unsubscribe_opts_the_number_out(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        first = queue_messages(conn, keyring, 2)
    with Smsc() as smsc:
        sms = channel(smsc.port)
        dispatcher = Dispatcher(db, keyring, {"sms": sms}, gate=AllowAll())
        assert dispatcher.run_once(NOW).sent == 2
        smsc.send_mo(phone_of(1).lstrip("+"), "退订")
        report = drain(dispatcher, sms, 0.5)
        assert (report.inbound, report.opt_outs) == (1, 1)
        # the next reminder to that number is not sent; the other borrower's is
        with db.begin() as conn:
            conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id.in_(first))
                .values(status="pending", not_before=NOW)
            )
            conn.execute(update(t.cases).values(status="open"))
        before = smsc.counts()
        report = dispatcher.run_once(NOW + timedelta(days=1))
        assert (report.sent, report.blocked) == (1, 1)
        after = smsc.counts()
        assert after[phone_of(1).lstrip("+")] == before[phone_of(1).lstrip("+")]
        assert after[phone_of(0).lstrip("+")] == 2 * before[phone_of(0).lstrip("+")]
        sms.close()
    assert statuses(db)[first[1]] == "blocked"


def test_rejected_number_is_dead_and_throttling_is_retried(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 3, language="en", name="Al")
    reject = {phone_of(0).lstrip("+"): 0x0B, phone_of(1).lstrip("+"): 0x58}  # RINVDSTADR, THROTTLED
    with Smsc(reject=reject) as smsc:
        sms = channel(smsc.port)
        report = Dispatcher(
            db, keyring, {"sms": sms}, gate=AllowAll(), config=DispatchConfig(max_attempts=5)
        ).run_once(NOW)
        sms.close()
        assert list(smsc.counts()) == [phone_of(2).lstrip("+")]
        assert {r.data_coding for r in smsc.received} == {0}  # GSM-7
    assert (report.sent, report.dead, report.retried) == (1, 1, 1)
    st = statuses(db)
    assert [st[i] for i in ids] == ["dead", "pending", "sent"]
    with db.connect() as conn:
        error = conn.execute(select(t.outbox.c.error).where(t.outbox.c.id == ids[0])).scalar()
    assert "0x0000000B" in error


def test_reconnects_when_the_connection_drops(db: Engine, keyring: KeyRing):
    with db.begin() as conn:
        queue_messages(conn, keyring, 4)
    with Smsc() as smsc:
        sms = channel(smsc.port)
        dispatcher = Dispatcher(
            db, keyring, {"sms": sms}, gate=AllowAll(), config=DispatchConfig(batch_size=2)
        )
        assert dispatcher.run_once(NOW, limit=2).sent == 2
        first = sms.client
        assert first is not None
        first._socket.shutdown(socket.SHUT_RDWR)  # the network drops the session
        report = dispatcher.run_once(NOW)
        assert report.sent == 2 and sms.client is not first  # a new bind
        assert len(smsc.counts()) == 4 and len(set(smsc.counts().values())) == 1
        sms.close()
    assert set(statuses(db).values()) == {"sent"}


@pytest.mark.parametrize("password", ["wrong"])
def test_bind_with_wrong_password_is_refused(password, tmp_path):
    from tests.integration.channels.npm_smsc import NodeSmsc, node_smpp_available

    if not node_smpp_available():
        pytest.skip("the npm smpp server (checks credentials) is not installed")
    from arrears.channels.smpp import SmppBindRefused

    with NodeSmsc(system_id="arrears", password="secret") as smsc:
        good = SmppChannel(SmppSettings("127.0.0.1", smsc.port, "arrears", "secret", "1069"))
        good.connect()
        good.close()
        bad = SmppChannel(SmppSettings("127.0.0.1", smsc.port, "arrears", password, "1069"))
        with pytest.raises(SmppBindRefused, match="refused the bind"):
            bad.connect()
