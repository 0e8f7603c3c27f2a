"""Builders for dispatcher tests: borrowers with an open case, a queued action and its outbox
row — the shape the daily run leaves behind — in bulk."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Connection, insert, select

from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t

DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def phone_of(i: int) -> str:
    return f"+86138{i:08d}"


def queue_messages(
    conn: Connection,
    ring: KeyRing,
    n: int,
    *,
    channel: str = "sms",
    template: str = "reminder_day1",
    language: str = "zh-CN",
    start: int = 0,
    not_before: datetime = AT,
    name: str = "王芳",
    email: str | None = None,
    address: str | None = None,
) -> list[int]:
    """n borrowers (one SMS-able phone each), each with an open case, an overdue item, a
    queued action and a pending outbox row. Returns the outbox ids."""
    ids = range(start, start + n)
    conn.execute(
        insert(t.borrowers),
        [
            {
                "id": f"B{i}",
                "name_enc": ring.encrypt(name if n == 1 else f"{name}{i}"),
                "phone_enc": ring.encrypt(phone_of(i)),
                "phone_index": ring.blind_index(phone_of(i)),
                "email_enc": ring.encrypt(email or f"b{i}@example.cn"),
                "address_enc": ring.encrypt(address or f"上海市浦东新区世纪大道{i}号"),
                "language": language,
            }
            for i in ids
        ],
    )
    conn.execute(
        insert(t.accounts),
        [
            {
                "id": f"A{i}",
                "borrower_id": f"B{i}",
                "product": "instalment_loan",
                "currency": "CNY",
                "principal": 120000,
                "opened_on": date(2026, 1, 1),
                "dpd": 1,
                "overdue_amount": 123450,
            }
            for i in ids
        ],
    )
    conn.execute(
        insert(t.due_items),
        [
            {
                "account_id": f"A{i}",
                "seq": 1,
                "due_on": date(2026, 3, 1),
                "principal": 120000,
                "interest": 3450,
            }
            for i in ids
        ],
    )
    conn.execute(
        insert(t.cases),
        [
            {
                "borrower_id": f"B{i}",
                "opened_on": DAY,
                "currency": "CNY",
                "overdue_at_open": 123450,
                "dpd": 1,
                "bucket": "M1",
                "overdue_amount": 123450,
            }
            for i in ids
        ],
    )
    case_ids = dict(
        conn.execute(
            select(t.cases.c.borrower_id, t.cases.c.id).where(
                t.cases.c.borrower_id.in_([f"B{i}" for i in ids])
            )
        ).all()
    )
    conn.execute(
        insert(t.actions),
        [
            {
                "case_id": case_ids[f"B{i}"],
                "business_date": DAY,
                "step": "dpd1_sms",
                "target_type": "borrower",
                "target_id": f"B{i}",
                "channel": channel,
                "template": template,
                "status": "queued",
                "scheduled_at": not_before,
            }
            for i in ids
        ],
    )
    action_ids = dict(
        conn.execute(
            select(t.actions.c.target_id, t.actions.c.id).where(
                t.actions.c.target_id.in_([f"B{i}" for i in ids])
            )
        ).all()
    )
    conn.execute(
        insert(t.outbox),
        [
            {
                "action_id": action_ids[f"B{i}"],
                "channel": channel,
                "template": template,
                "language": language,
                "target_type": "borrower",
                "target_id": f"B{i}",
                "status": "pending",
                "not_before": not_before,
                "created_at": not_before,
            }
            for i in ids
        ],
    )
    return [
        r.id
        for r in conn.execute(
            select(t.outbox.c.id)
            .where(t.outbox.c.action_id.in_(list(action_ids.values())))
            .order_by(t.outbox.c.id)
        )
    ]


def contact_message(
    conn: Connection,
    ring: KeyRing,
    borrower_index: int,
    *,
    channel: str = "sms",
    template: str = "contact_callback",
    consent: bool = True,
    name: str = "李伟",
    phone: str = "+8613900000002",
) -> int:
    """A message to the borrower's contact on the borrower's case."""
    bid = f"B{borrower_index}"
    conn.execute(
        insert(t.contacts).values(
            id=f"C{borrower_index}",
            borrower_id=bid,
            name_enc=ring.encrypt(name),
            relationship="sibling",
            phone_enc=ring.encrypt(phone),
            phone_index=ring.blind_index(phone),
            consent=consent,
        )
    )
    case_id = conn.execute(select(t.cases.c.id).where(t.cases.c.borrower_id == bid)).scalar_one()
    action_id = conn.execute(
        insert(t.actions)
        .values(
            case_id=case_id,
            business_date=DAY,
            step="contact_call",
            target_type="contact",
            target_id=f"C{borrower_index}",
            channel=channel,
            template=template,
            status="queued",
            scheduled_at=AT,
        )
        .returning(t.actions.c.id)
    ).scalar_one()
    return conn.execute(
        insert(t.outbox)
        .values(
            action_id=action_id,
            channel=channel,
            template=template,
            language="zh-CN",
            target_type="contact",
            target_id=f"C{borrower_index}",
            status="pending",
            not_before=AT,
            created_at=AT,
        )
        .returning(t.outbox.c.id)
    ).scalar_one()
