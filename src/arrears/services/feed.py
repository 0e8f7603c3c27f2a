"""The lender's feed one record at a time (the integrators' API): borrowers, contacts, accounts,
due items and payments written or replaced by their ids — the rows the import writes in bulk.
The caller has validated every value; these write them and answer what the feed needs to know
(does the borrower exist, whose is this contact, in which currency is the account booked)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select

from arrears.engine.delinquency import reassess
from arrears.store import tables as t
from arrears.store.bulk import upsert
from arrears.store.tables_web import idempotency_keys

# --- borrowers and contacts -----------------------------------------------------------------------


def save_borrower(conn: Connection, values: Mapping[str, Any]) -> Any:
    """Create or replace the borrower `values["id"]` (personal fields already encrypted); the
    stored row."""
    upsert(conn, t.borrowers, ["id"], values)
    return conn.execute(select(t.borrowers).where(t.borrowers.c.id == values["id"])).one()


def borrower_exists(conn: Connection, borrower_id: str) -> bool:
    return conn.scalar(select(t.borrowers.c.id).where(t.borrowers.c.id == borrower_id)) is not None


def contact_owner(conn: Connection, contact_id: str) -> str | None:
    """The borrower who designated the contact, or None for a new contact."""
    return conn.scalar(select(t.contacts.c.borrower_id).where(t.contacts.c.id == contact_id))


def contact_status(conn: Connection, contact_id: str) -> str | None:
    return conn.scalar(select(t.contacts.c.status).where(t.contacts.c.id == contact_id))


def save_contact(conn: Connection, values: Mapping[str, Any]) -> None:
    upsert(conn, t.contacts, ["id"], values)


# --- accounts and due items -----------------------------------------------------------------------


def account_by_id(conn: Connection, account_id: str) -> Any:
    """The account row, or None."""
    return conn.execute(select(t.accounts).where(t.accounts.c.id == account_id)).first()


def account_currency(conn: Connection, account_id: str) -> str | None:
    """The currency the account is booked in; None when there is no such account."""
    return conn.scalar(select(t.accounts.c.currency).where(t.accounts.c.id == account_id))


def save_account(conn: Connection, values: Mapping[str, Any]) -> Any:
    """Create or update the account `values["id"]` (its DPD, bucket and amounts stay the daily
    run's); the stored row."""
    upsert(conn, t.accounts, ["id"], values)
    return conn.execute(select(t.accounts).where(t.accounts.c.id == values["id"])).one()


def save_due_items(conn: Connection, account_id: str, items: Sequence[Mapping[str, Any]]) -> None:
    """Create or update the account's due items by sequence number (paid parts are kept), then
    reassess the account's delinquency so its state matches its schedule at once."""
    for values in items:
        upsert(conn, t.due_items, ["account_id", "seq"], {**values, "account_id": account_id})
    reassess(conn, [account_id])


# --- payments -----------------------------------------------------------------------------------


def claim_idempotency_key(
    conn: Connection,
    token_id: str,
    key: str,
    request_hash: str,
    response: str,
    status_code: int,
    at: datetime,
) -> None:
    """Write the key's row first in the request's transaction: a concurrent twin waits on it and
    then fails with an IntegrityError (and reads `idempotent_answer`)."""
    conn.execute(
        insert(idempotency_keys).values(
            token_id=token_id,
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            response=response,
            created_at=at,
        )
    )


def idempotent_answer(conn: Connection, token_id: str, key: str) -> Any:
    """The stored request hash and response of an Idempotency-Key, or None."""
    k = idempotency_keys
    return conn.execute(select(k).where(and_(k.c.token_id == token_id, k.c.key == key))).first()


def payment_exists(conn: Connection, payment_id: str) -> bool:
    return bool(conn.scalar(select(t.payments.c.id).where(t.payments.c.id == payment_id)))


def record_payment(
    conn: Connection,
    payment_id: str,
    account_id: str,
    amount: int,
    currency: str,
    received_on: date,
    source: str,
) -> None:
    """A payment received (minor units); the daily run posts it by the account's waterfall."""
    conn.execute(
        insert(t.payments).values(
            id=payment_id,
            account_id=account_id,
            amount=amount,
            currency=currency,
            received_on=received_on,
            source=source,
        )
    )
