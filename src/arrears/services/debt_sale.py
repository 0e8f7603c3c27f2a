"""Debt sale: charged-off accounts exported to a buyer's file, marked sold, out of collection.

The buyer's file (CSV, UTF-8, mode 0600) is the one place the sale puts personal data; the
audit entry of the export names the buyer, the file's name and SHA-256, the number of accounts
and the balances per currency — no personal data. All or nothing: every account named must be
charged off and not sold yet, else nothing is written and the error lists every one that is
not; the file appears only once the sale is committed, and never over an existing file.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, text, update

from arrears.formats import plain_amount
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from arrears.store.tables_late import debt_sale_accounts, debt_sales, write_offs

COLUMNS = (
    "account_id",
    "product",
    "currency",
    "balance",
    "principal",
    "opened_on",
    "oldest_unpaid_due_on",
    "charged_off_on",
    "charged_off_amount",
    "dpd",
    "last_payment_on",
    "borrower_id",
    "name",
    "phone",
    "email",
    "id_number",
    "address",
)
_PERSONAL = ("name", "phone", "email", "id_number", "address")
_CHUNK = 500


class DebtSaleAccountsInvalid(ValueError):
    def __init__(self, problems: Sequence[str]) -> None:
        shown = "; ".join(problems[:20]) + (
            f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
        )
        super().__init__(f"nothing sold: {shown}")


class DebtSaleEmpty(ValueError):
    def __init__(self, what: str) -> None:
        super().__init__(f"nothing to sell: {what}")


class DebtSaleFileExists(FileExistsError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists; name a new file (a sale never overwrites one)")


class DebtSaleSelectionInvalid(ValueError):
    def __init__(self) -> None:
        super().__init__("name the accounts (--accounts FILE) or --charged-off-before DATE, one")


@dataclass(frozen=True)
class DebtSale:
    sale_id: int
    path: Path
    accounts: int
    balances: dict[str, int]  # currency -> minor units sold
    sha256: str


def read_account_ids(path: Path) -> list[str]:
    """One account id a line (a CSV's first column; an `account_id` header and blanks skipped)."""
    ids: list[str] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            value = row[0].strip() if row else ""
            if value and value != "account_id":
                ids.append(value)
    return ids


def export_sale(
    engine: Engine,
    ring: KeyRing,
    *,
    out: Path,
    buyer: str,
    on: date,
    by: str,
    at: datetime,
    account_ids: Sequence[str] | None = None,
    charged_off_before: date | None = None,
) -> DebtSale:
    """Sell the accounts named (or all charged off before a date) to buyer on `on`."""
    if (account_ids is None) == (charged_off_before is None):
        raise DebtSaleSelectionInvalid()
    if out.exists():
        raise DebtSaleFileExists(out)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with engine.begin() as conn:
            ids = _chosen(conn, account_ids, charged_off_before)
            rows = _rows(conn, ring, ids, on)
            digest = _write(partial, rows)
            sale = _record(conn, ring, rows, out, digest, buyer=buyer, on=on, by=by, at=at)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return sale


def _chosen(conn: Connection, account_ids: Sequence[str] | None, before: date | None) -> list[str]:
    a, w = t.accounts, write_offs
    if before is not None:
        ids = (
            conn.execute(
                select(a.c.id)
                .join(w, and_(w.c.account_id == a.c.id, w.c.reason == "charge_off"))
                .where(a.c.status == "charged_off", w.c.business_date < before)
                .order_by(a.c.id)
            )
            .scalars()
            .all()
        )
        if not ids:
            raise DebtSaleEmpty(f"no account charged off before {before} is left unsold")
        return list(ids)
    wanted = list(dict.fromkeys(account_ids or []))
    if not wanted:
        raise DebtSaleEmpty("the accounts file names no account")
    status: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        status.update(conn.execute(select(a.c.id, a.c.status).where(a.c.id.in_(chunk))).all())
    problems = [
        f"{i} is unknown" if i not in status else f"{i} is {status[i]}, not charged_off"
        for i in wanted
        if status.get(i) != "charged_off"
    ]
    if problems:
        raise DebtSaleAccountsInvalid(problems)
    return wanted


def _rows(conn: Connection, ring: KeyRing, ids: list[str], on: date) -> list[dict[str, Any]]:
    a, b, w, i, p = t.accounts, t.borrowers, write_offs, t.due_items, t.payments
    unpaid = " OR ".join(f"i.{c} > i.paid_{c}" for c in ("principal", "interest", "fee", "penalty"))
    oldest = (
        select(func.min(i.c.due_on))
        .where(i.c.account_id == a.c.id)
        .where(text(unpaid.replace("i.", "due_items.")))
        .scalar_subquery()
    )
    last_paid = select(func.max(p.c.received_on)).where(p.c.account_id == a.c.id).scalar_subquery()
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(
                a.c.id,
                a.c.product,
                a.c.currency,
                a.c.outstanding,
                a.c.principal,
                a.c.opened_on,
                oldest.label("oldest"),
                w.c.business_date,
                w.c.amount,
                last_paid.label("last"),
                b.c.id.label("borrower_id"),
                b.c.name_enc,
                b.c.phone_enc,
                b.c.email_enc,
                b.c.id_number_enc,
                b.c.address_enc,
            )
            .join(b, b.c.id == a.c.borrower_id)
            .join(w, and_(w.c.account_id == a.c.id, w.c.reason == "charge_off"))
            .where(a.c.id.in_(ids[start : start + _CHUNK]))
            .order_by(a.c.id)
        )
        found.extend(_row(ring, r._mapping, on) for r in conn.execute(query))
    return found


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _row(ring: KeyRing, m: Any, on: date) -> dict[str, Any]:
    cur = m["currency"]
    oldest = _day(m["oldest"])
    last = _day(m["last"])
    return {
        "account_id": m["id"],
        "product": m["product"],
        "currency": cur,
        "balance_minor": int(m["outstanding"]),
        "balance": plain_amount(m["outstanding"], cur),
        "principal": plain_amount(m["principal"], cur),
        "opened_on": _day(m["opened_on"]).isoformat(),  # type: ignore[union-attr]
        "oldest_unpaid_due_on": oldest.isoformat() if oldest else "",
        "charged_off_on": _day(m["business_date"]).isoformat(),  # type: ignore[union-attr]
        "charged_off_amount": plain_amount(m["amount"], cur),
        "dpd": str((on - oldest).days if oldest and oldest < on else 0),
        "last_payment_on": last.isoformat() if last else "",
        "borrower_id": m["borrower_id"],
        **{f: ring.decrypt(m[f"{f}_enc"]) or "" for f in _PERSONAL},
    }


def _write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        out.writerows([r[c] for c in COLUMNS] for r in rows)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(
    conn: Connection,
    ring: KeyRing,
    rows: list[dict[str, Any]],
    out: Path,
    digest: str,
    *,
    buyer: str,
    on: date,
    by: str,
    at: datetime,
) -> DebtSale:
    sale_id = conn.execute(
        insert(debt_sales)
        .values(
            sold_on=on,
            buyer=buyer,
            file_name=out.name,
            file_sha256=digest,
            accounts=len(rows),
            sold_by=by,
            sold_at=at,
        )
        .returning(debt_sales.c.id)
    ).scalar_one()
    conn.execute(
        insert(debt_sale_accounts),
        [
            {
                "account_id": r["account_id"],
                "sale_id": sale_id,
                "currency": r["currency"],
                "balance": r["balance_minor"],
            }
            for r in rows
        ],
    )
    ids = [r["account_id"] for r in rows]
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        conn.execute(
            update(t.accounts)
            .where(t.accounts.c.id.in_(chunk), t.accounts.c.status == "charged_off")
            .values(status="sold")
        )
    _close_sold_cases(conn, on)
    balances: dict[str, int] = {}
    for r in rows:
        balances[r["currency"]] = balances.get(r["currency"], 0) + r["balance_minor"]
    audit.append(
        conn,
        ring,
        actor=by,
        kind=audit.AuditKind.EXPORT,
        subject=f"debt-sale:{sale_id}",
        detail={
            "what": "debt sale file",
            "buyer": buyer,
            "file": out.name,
            "sha256": digest,
            "accounts": len(rows),
            "balances": {c: plain_amount(v, c) for c, v in sorted(balances.items())},
            "on": on.isoformat(),
        },
        at=at,
    )
    return DebtSale(sale_id, out, len(rows), balances, digest)


def _close_sold_cases(conn: Connection, on: date) -> None:
    """A charged-off case with no charged-off account left unsold leaves collection: `sold`."""
    c, a = t.cases, t.accounts
    left = (
        select(a.c.id)
        .where(a.c.borrower_id == c.c.borrower_id, a.c.status == "charged_off")
        .exists()
    )
    sold = select(a.c.borrower_id).where(a.c.status == "sold")
    conn.execute(
        update(c)
        .where(c.c.status == "charged_off", c.c.borrower_id.in_(sold), ~left)
        .values(status="sold", closed_on=on)
    )
