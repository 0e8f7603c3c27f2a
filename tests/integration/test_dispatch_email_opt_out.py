"""A borrower who unsubscribes by e-mail (the List-Unsubscribe mailto, a reply, or the one-click
link) gets no more e-mail; SMS to the same borrower still goes — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select, update

from arrears.channels.base import InboundMessage
from arrears.channels.filesink import FileSink
from arrears.privacy.keyring import KeyRing
from arrears.services.dispatch import (
    AllowAll,
    apply_events,
    dispatch_once,
    email_index,
    is_unsubscribe,
    unsubscribe_email,
)
from arrears.store import tables as t
from arrears.store.tables_comms import comm_inbound, comm_suppressions
from tests.integration.channels.outbox import AT, queue_messages

NOW = AT + timedelta(minutes=5)


def sent_to(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [json.loads(x)["outbox_id"] for x in path.read_text("utf-8").splitlines()]


def again(db: Engine, ids: list[int]) -> None:
    """The next day's messages to the same borrowers."""
    with db.begin() as conn:
        conn.execute(
            update(t.outbox).where(t.outbox.c.id.in_(ids)).values(status="pending", not_before=NOW)
        )
        conn.execute(update(t.actions).values(status="queued"))


def test_unsubscribe_mail_suppresses_that_address_for_email_only(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    with db.begin() as conn:
        emails = queue_messages(conn, keyring, 3, channel="email")
        sms = queue_messages(conn, keyring, 1, start=100, channel="sms")
        # the SMS goes to borrower 0's phone too
        b0 = conn.execute(select(t.borrowers).where(t.borrowers.c.id == "B0")).one()
        conn.execute(
            update(t.borrowers)
            .where(t.borrowers.c.id == "B100")
            .values(phone_enc=b0.phone_enc, phone_index=b0.phone_index)
        )
    out = tmp_path / "out"
    assert dispatch_once(db, keyring, FileSink(out), NOW, gate=AllowAll()).sent == 4
    # borrower 0 writes to the List-Unsubscribe mailto from the address we wrote to (other case)
    # and borrower 1 answers a message with "STOP"; borrower 2 just writes
    report = apply_events(
        db,
        keyring,
        [
            InboundMessage("email", " B0@Example.CN ", f"unsubscribe arrears-{emails[0]}"),
            InboundMessage("email", "b1@example.cn", "STOP\n\n> your reminder"),
            InboundMessage("email", "b2@example.cn", "I will pay on Friday, please stop later"),
        ],
        NOW,
    )
    assert (report.inbound, report.opt_outs) == (3, 2)
    with db.connect() as conn:
        rows = conn.execute(select(comm_suppressions)).all()
        flags = conn.execute(select(comm_inbound.c.opt_out)).scalars().all()
    assert sorted((r.channel, r.address_index) for r in rows) == sorted(
        ("email", email_index(keyring, f"b{i}@example.cn")) for i in (0, 1)
    )
    assert sorted(flags) == [0, 1, 1]
    again(db, [*emails, *sms])
    day2 = tmp_path / "day2"  # the file sink writes a message key once per directory
    report = dispatch_once(db, keyring, FileSink(day2), NOW + timedelta(days=1), gate=AllowAll())
    assert (report.sent, report.blocked) == (2, 2)
    assert report.block_reasons == {"opt_out": 2}
    assert sent_to(day2 / "email.jsonl") == [emails[2]]
    assert sent_to(day2 / "sms.jsonl") == sms  # SMS to borrower 0 still goes
    with db.connect() as conn:
        status = dict(conn.execute(select(t.outbox.c.id, t.outbox.c.status)).all())
    assert [status[i] for i in emails] == ["blocked", "blocked", "sent"]


def test_one_click_link_suppresses_the_address_the_message_went_to(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    with db.begin() as conn:
        emails = queue_messages(conn, keyring, 2, channel="email", email="Wang.Fang@Example.cn")
        conn.execute(
            update(t.borrowers)
            .where(t.borrowers.c.id == "B1")
            .values(email_enc=keyring.encrypt("other@example.cn"))
        )
    out = tmp_path / "out"
    assert dispatch_once(db, keyring, FileSink(out), NOW, gate=AllowAll()).sent == 2
    with db.begin() as conn:
        # the link carries the message key only: no address from the request
        found = unsubscribe_email(conn, keyring, at=NOW, outbox_id=emails[0])
        # a second click changes nothing
        assert unsubscribe_email(conn, keyring, at=NOW, outbox_id=emails[0]) == found
    assert found == [email_index(keyring, "wang.fang@example.cn")]
    again(db, emails)
    day2 = tmp_path / "day2"
    report = dispatch_once(db, keyring, FileSink(day2), NOW + timedelta(days=1), gate=AllowAll())
    assert (report.sent, report.blocked) == (1, 1)
    assert sent_to(day2 / "email.jsonl") == [emails[1]]


def test_unsubscribe_words() -> None:
    assert is_unsubscribe("unsubscribe arrears-12")
    assert is_unsubscribe("UNSUBSCRIBE")
    assert is_unsubscribe("退订")
    assert is_unsubscribe(" stop.\n> quoted reminder")
    assert not is_unsubscribe("please do not stop the plan")
    assert not is_unsubscribe("")
