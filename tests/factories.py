"""Small builders for storage tests: a borrower with accounts, due items and payments."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, insert

from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t

RING = KeyRing.generate()


def borrower(conn: Connection, bid: str, *, phone: str = "+8613800000001", **kw: Any) -> str:
    conn.execute(
        insert(t.borrowers).values(
            id=bid,
            name_enc=RING.encrypt(kw.pop("name", "王芳")),
            phone_enc=RING.encrypt(phone),
            phone_index=RING.blind_index(phone),
            **kw,
        )
    )
    return bid


def contact(conn: Connection, cid: str, bid: str, *, consent: bool = True, **kw: Any) -> str:
    phone = kw.pop("phone", "+8613900000002")
    conn.execute(
        insert(t.contacts).values(
            id=cid,
            borrower_id=bid,
            name_enc=RING.encrypt(kw.pop("name", "李伟")),
            relationship=kw.pop("relationship", "sibling"),
            phone_enc=RING.encrypt(phone),
            phone_index=RING.blind_index(phone),
            consent=consent,
            **kw,
        )
    )
    return cid


def account(
    conn: Connection,
    aid: str,
    bid: str,
    items: list[tuple[date, int, int]],
    *,
    currency: str = "CNY",
    penalty_rate_ppm: int = 0,
    annual_rate_ppm: int = 0,
    **kw: Any,
) -> str:
    """items: (due_on, principal, interest) in minor units."""
    conn.execute(
        insert(t.accounts).values(
            id=aid,
            borrower_id=bid,
            product=kw.pop("product", "instalment_loan"),
            currency=currency,
            principal=sum(p for _, p, _ in items),
            annual_rate_ppm=annual_rate_ppm,
            penalty_rate_ppm=penalty_rate_ppm,
            opened_on=kw.pop("opened_on", date(2026, 1, 1)),
            **kw,
        )
    )
    for seq, (due_on, principal, interest) in enumerate(items, start=1):
        conn.execute(
            insert(t.due_items).values(
                account_id=aid, seq=seq, due_on=due_on, principal=principal, interest=interest
            )
        )
    return aid


def one_in_ten_behind(conn: Connection, accounts: int, due: list[date], **kw: Any) -> None:
    """Borrowers B0.. with an account A0.. each (10000 + 500 an instalment): one account in ten
    owes its instalments on `due`, the others the same a year later (`kw` goes to `account`)."""
    later = [d.replace(year=d.year + 1) for d in due]
    for n in range(accounts):
        borrower(conn, f"B{n}")
        dues = due if n % 10 == 0 else later
        account(conn, f"A{n}", f"B{n}", [(d, 10000, 500) for d in dues], **kw)


def payment(
    conn: Connection, pid: str, aid: str, amount: int, received_on: date, currency: str = "CNY"
) -> str:
    conn.execute(
        insert(t.payments).values(
            id=pid, account_id=aid, amount=amount, currency=currency, received_on=received_on
        )
    )
    return pid
