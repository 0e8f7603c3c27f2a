"""The cross-field rules of the lender's feed, one place for the file import and the HTTP API.

A field on its own is read by `import_formats` (amounts, dates, ids ...). The rules here relate
fields to each other and to what is stored about the account: a due item is not due before the
account was opened and cannot shrink below what has been paid of it; a payment is in the
account's currency, moves money, and is not received before the account was opened. Each rule
returns the breaches as values, `(column, message)`; the import reports them as
`file:line: column: message`, the API as problem details naming `body.<column>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from arrears.services.import_formats import format_minor
from arrears.store import tables as t

COMPONENTS = ("principal", "interest", "fee")


@dataclass(frozen=True)
class Breach:
    column: str
    message: str


def due_item_breaches(
    account_id: str,
    seq: int | None,
    due_on: date | None,
    amounts: Mapping[str, object],
    currency: str | None,
    opened_on: date | None,
    paid: tuple[int, int, int] | None,
) -> list[Breach]:
    """A due item against its account: `amounts` of principal, interest and fee in minor
    units, `paid` the parts already paid of each (None for a new item)."""
    out = []
    if due_on and opened_on and due_on < opened_on:
        out.append(
            Breach(
                "due_on",
                f"{due_on} is before account {account_id} was opened ({opened_on}); "
                "check the schedule",
            )
        )
    if paid and currency:
        for column, already in zip(COMPONENTS, paid, strict=True):
            amount = amounts.get(column)
            if isinstance(amount, int) and amount < already:
                out.append(
                    Breach(
                        column,
                        f"{format_minor(amount, currency)} is less than the "
                        f"{format_minor(already, currency)} already paid on item {seq} of "
                        f"{account_id}; a due item cannot shrink below what was paid",
                    )
                )
    return out


def payment_breaches(
    account_id: str | None,
    amount: int | None,
    currency: str | None,
    account_currency: str | None,
    received_on: date | None,
    opened_on: date | None,
) -> list[Breach]:
    out = []
    if currency and account_currency and currency != account_currency:
        out.append(
            Breach(
                "currency",
                f"{currency} differs from account {account_id}'s currency {account_currency}; "
                "convert the payment in the host system first",
            )
        )
    if amount == 0 and currency:
        out.append(Breach("amount", "is zero; a payment moves money"))
    if received_on and opened_on and received_on < opened_on:
        out.append(
            Breach(
                "received_on",
                f"{received_on} is before account {account_id} was opened ({opened_on})",
            )
        )
    return out


# -- the same rules for one account's rows arriving through the API ----------------------------


def check_due_items(
    conn: Connection, account_id: str, items: Iterable[Mapping[str, Any]]
) -> list[tuple[int, Breach]]:
    """The breaches of items (index in the list, breach) against the stored account; each
    item has seq, due_on and principal, interest and fee in minor units."""
    a, d = t.accounts.c, t.due_items.c
    account = conn.execute(select(a.currency, a.opened_on).where(a.id == account_id)).first()
    if account is None:
        return []
    paid = {
        r.seq: (r.paid_principal, r.paid_interest, r.paid_fee)
        for r in conn.execute(
            select(d.seq, d.paid_principal, d.paid_interest, d.paid_fee).where(
                d.account_id == account_id
            )
        )
    }
    out = []
    for n, item in enumerate(items):
        for breach in due_item_breaches(
            account_id,
            item["seq"],
            item["due_on"],
            item,
            account.currency,
            account.opened_on,
            paid.get(item["seq"]),
        ):
            out.append((n, breach))
    return out


def check_payment(
    conn: Connection, account_id: str, amount: int, currency: str, received_on: date
) -> list[Breach]:
    """The breaches of a payment against the stored account (none for an unknown account:
    that is the caller's own error)."""
    a = t.accounts.c
    account = conn.execute(select(a.currency, a.opened_on).where(a.id == account_id)).first()
    if account is None:
        return []
    return payment_breaches(
        account_id, amount, currency, account.currency, received_on, account.opened_on
    )
