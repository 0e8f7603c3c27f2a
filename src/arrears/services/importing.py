"""Import host extracts: borrowers, contacts, accounts, due items and payments.

All or nothing. Every row of every file is validated first — against the other files of the
same import and against what the database already holds (looked up in bulk, never row by
row) — and every problem is reported as `file:line: column: message`. Only a clean import is
written, in one transaction, with set-based upserts (`INSERT ... ON CONFLICT DO UPDATE`).

Re-running an import is safe: rows identical to what is stored are skipped, changed rows are
updated (paid parts of due items, contact and phone statuses are the platform's and are kept),
and a payment id already received with the same content is skipped (never posted twice).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, case, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

from arrears.engine.delinquency import reassess
from arrears.privacy.keyring import KeyRing
from arrears.services.import_formats import SPECS, ExtractFile
from arrears.services.import_rows import (
    Extract,
    ImportProblem,
    ImportRejected,
    Record,
    References,
    Stored,
    StoredAccount,
    StoredPayment,
    Validated,
    references,
    validate,
)
from arrears.store import tables as t

__all__ = [
    "ExtractFile",
    "FileCounts",
    "ImportProblem",
    "ImportRejected",
    "ImportReport",
    "import_directory",
    "import_rows",
    "read_directory",
]

LOOKUP_CHUNK = 5_000  # ids per IN (...) look-up; well under SQLite's bound-parameter limit
WRITE_CHUNK = 50_000  # rows per executemany


@dataclass(frozen=True)
class FileCounts:
    inserted: int = 0
    updated: int = 0
    skipped: int = 0  # identical to what is stored; for payments: already received

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.skipped


@dataclass
class ImportReport:
    files: dict[str, FileCounts] = field(default_factory=dict)
    dry_run: bool = False

    def __str__(self) -> str:
        lines = [f"{'file':<16}{'inserted':>10}{'updated':>10}{'skipped':>10}"]
        for name, c in self.files.items():
            lines.append(f"{name:<16}{c.inserted:>10}{c.updated:>10}{c.skipped:>10}")
        if self.dry_run:
            lines.append("dry run: valid, nothing written")
        return "\n".join(lines)


# -- entry points ------------------------------------------------------------------------------


def import_directory(
    engine: Engine, keyring: KeyRing, directory: Path, *, dry_run: bool = False
) -> ImportReport:
    """Import the host extracts found in directory (any subset of the five files)."""
    extracts, problems = read_directory(directory)
    return _import(engine, keyring, extracts, problems, dry_run)


def import_rows(
    engine: Engine,
    keyring: KeyRing,
    extracts: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    dry_run: bool = False,
) -> ImportReport:
    """Import rows given as dicts, keyed by extract (`"borrowers.csv"` or `"borrowers"`).

    Cells are the same text a file would hold (amounts as decimal strings, dates ISO); `int`,
    `Decimal`, `date` and `bool` values are accepted and written out as text, floats are
    refused. The first row is reported as line 2, as if a header preceded it.
    """
    read: dict[ExtractFile, Extract] = {}
    problems: list[ImportProblem] = []
    for name, rows in extracts.items():
        file = _extract_file(name)
        if file is None:
            problems.append(ImportProblem(name, 0, "-", _unknown_file_message()))
            continue
        read[file] = extract_from_dicts(file, rows, problems)
    return _import(engine, keyring, read, problems, dry_run)


def read_directory(directory: Path) -> tuple[dict[ExtractFile, Extract], list[ImportProblem]]:
    problems: list[ImportProblem] = []
    extracts: dict[ExtractFile, Extract] = {}
    if not directory.is_dir():
        problems.append(ImportProblem(str(directory), 0, "-", "is not a directory"))
        return extracts, problems
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() != ".csv":
            continue
        file = _extract_file(path.name)
        if file is None:
            problems.append(ImportProblem(path.name, 0, "-", _unknown_file_message()))
            continue
        extracts[file] = read_csv(path, file, problems)
    if not extracts and not problems:
        names = ", ".join(f.value for f in ExtractFile)
        problems.append(
            ImportProblem(str(directory), 0, "-", f"holds no host extract; expected {names}")
        )
    return extracts, problems


# -- reading -----------------------------------------------------------------------------------


def read_csv(path: Path, file: ExtractFile, problems: list[ImportProblem]) -> Extract:
    """The header and rows of one UTF-8 CSV file (a byte-order mark is allowed)."""
    extract = Extract(file, (), [])
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(
            ImportProblem(file, line, "-", "is not UTF-8 text; export the extract as UTF-8")
        )
        extract.readable = False
        return extract
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        first = next(reader, None)
        if first is None:
            extract.readable = False
            spec = SPECS[file]
            problems.append(
                ImportProblem(
                    file,
                    0,
                    "-",
                    f"is empty; the first line is the header: {','.join(spec.required)}",
                )
            )
            return extract
        header = tuple(h.strip() for h in first)
        extract.header = header
        width = len(header)
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != width:
                problems.append(
                    ImportProblem(
                        file,
                        start,
                        "-",
                        f"has {len(cells)} fields but the header has {width}; "
                        "check delimiters and quoting",
                    )
                )
                continue
            extract.rows.append((start, dict(zip(header, map(str.strip, cells), strict=True))))
    except csv.Error as exc:
        extract.readable = False
        problems.append(ImportProblem(file, line, "-", f"is not valid CSV: {exc}"))
    return extract


def extract_from_dicts(
    file: ExtractFile, rows: Iterable[Mapping[str, Any]], problems: list[ImportProblem]
) -> Extract:
    header: dict[str, None] = {}
    out: list[tuple[int, dict[str, str]]] = []
    for line, row in enumerate(rows, start=2):
        cells: dict[str, str] = {}
        for key, value in row.items():
            header.setdefault(key, None)
            if isinstance(value, float):
                problems.append(
                    ImportProblem(
                        file, line, key, f"{value!r} is a float; pass amounts as str or Decimal"
                    )
                )
                cells[key] = str(value)
            elif value is None:
                cells[key] = ""
            elif isinstance(value, bool):
                cells[key] = "true" if value else "false"
            elif isinstance(value, Decimal):
                cells[key] = format(value, "f")
            else:
                cells[key] = str(value).strip()
        out.append((line, cells))
    columns = tuple(header)
    for _, cells in out:  # every row has every column, blank where a dict left it out
        for column in columns:
            cells.setdefault(column, "")
    return Extract(file, columns, out)


def _extract_file(name: str) -> ExtractFile | None:
    wanted = name if name.endswith(".csv") else f"{name}.csv"
    for file in ExtractFile:
        if file.value == wanted:
            return file
    return None


def _unknown_file_message() -> str:
    names = ", ".join(f.value for f in ExtractFile)
    return f"is not a host extract; name the files {names}"


# -- the import --------------------------------------------------------------------------------


def _import(
    engine: Engine,
    keyring: KeyRing,
    extracts: dict[ExtractFile, Extract],
    read_problems: list[ImportProblem],
    dry_run: bool,
) -> ImportReport:
    with engine.begin() as conn:
        existing = _Existing.load(conn, references(extracts))
        try:
            validated = validate(extracts, existing.stored)
        except ImportRejected as exc:
            raise ImportRejected(read_problems + exc.problems) from None
        if read_problems:
            raise ImportRejected(read_problems)
        plan = _Plan(keyring, existing, validated)
        report = plan.report(dry_run)
        if not dry_run:
            plan.write(conn)
    return report


@dataclass
class _Existing:
    """Stored rows for the ids an import refers to, fetched with a few IN (...) queries."""

    borrowers: dict[str, Row[Any]]
    contacts: dict[str, Row[Any]]
    accounts: dict[str, Row[Any]]
    due_items: dict[tuple[str, int], Row[Any]]
    payments: dict[str, Row[Any]]
    stored: Stored

    @classmethod
    def load(cls, conn: Connection, refs: References) -> _Existing:
        b = t.borrowers
        borrowers = {r.id: r for r in _fetch(conn, b, b.c.id, refs.borrower_ids)}
        contacts = {r.id: r for r in _fetch(conn, t.contacts, t.contacts.c.id, refs.contact_ids)}
        accounts = {r.id: r for r in _fetch(conn, t.accounts, t.accounts.c.id, refs.account_ids)}
        d = t.due_items.c
        due_columns = (d.account_id, d.seq, d.due_on, d.principal, d.interest, d.fee)
        paid_columns = (d.paid_principal, d.paid_interest, d.paid_fee)
        due_items = {
            (r.account_id, r.seq): r
            for r in _fetch(
                conn, (*due_columns, *paid_columns), d.account_id, refs.due_item_account_ids
            )
        }
        payments = {r.id: r for r in _fetch(conn, t.payments, t.payments.c.id, refs.payment_ids)}
        stored = Stored(
            borrower_ids=set(borrowers),
            accounts={
                r.id: StoredAccount(r.borrower_id, r.currency, r.opened_on)
                for r in accounts.values()
            },
            due_paid={
                k: (r.paid_principal, r.paid_interest, r.paid_fee) for k, r in due_items.items()
            },
            payments={
                r.id: StoredPayment(r.account_id, r.amount, r.currency, r.received_on)
                for r in payments.values()
            },
        )
        return cls(borrowers, contacts, accounts, due_items, payments, stored)


def _fetch(conn: Connection, what: Any, column: Any, ids: set[str]) -> Iterator[Row[Any]]:
    """Rows of `what` (a table or columns) whose `column` is one of ids, a chunk at a time."""
    query = select(what) if isinstance(what, Table) else select(*what)
    ordered = sorted(ids)
    for i in range(0, len(ordered), LOOKUP_CHUNK):
        yield from conn.execute(query.where(column.in_(ordered[i : i + LOOKUP_CHUNK])))


# columns a re-import overwrites; everything else on the row belongs to the platform
_BORROWER_PERSONAL = ("name", "phone", "email", "id_number", "address")


class _Plan:
    """Splits validated rows into inserts, updates and unchanged rows; encrypts personal data."""

    def __init__(self, keyring: KeyRing, existing: _Existing, validated: Validated) -> None:
        self.keyring = keyring
        self.existing = existing
        self.validated = validated
        self.counts: dict[ExtractFile, FileCounts] = {}
        self.rows: dict[ExtractFile, list[Record]] = {}
        for file, records in validated.records.items():
            self._split(file, records)

    def _split(self, file: ExtractFile, records: list[Record]) -> None:
        stored: Mapping[Any, Row[Any]]
        key: Any
        if file is ExtractFile.borrowers:
            stored, same, encode = self.existing.borrowers, self._same_borrower, self._borrower
        elif file is ExtractFile.contacts:
            stored, same, encode = self.existing.contacts, self._same_contact, self._contact
        elif file is ExtractFile.accounts:
            stored, same, encode = self.existing.accounts, _same_columns, _as_is
        elif file is ExtractFile.due_items:
            stored, same, encode = self.existing.due_items, _same_due_item, _as_is
        else:
            stored, same, encode = self.existing.payments, _same_columns, _as_is
        inserted = updated = skipped = 0
        out: list[Record] = []
        for record in records:
            key = (record["account_id"], record["seq"]) if "seq" in record else record["id"]
            old = stored.get(key)
            if old is None:
                inserted += 1
            elif same(record, old):
                skipped += 1
                continue
            else:
                updated += 1
            out.append(encode(record))
        if file is ExtractFile.payments:
            skipped += self.validated.payments_seen
        self.counts[file] = FileCounts(inserted, updated, skipped)
        self.rows[file] = out

    def _same_borrower(self, record: Record, old: Row[Any]) -> bool:
        ring = self.keyring
        for column, value in record.items():
            if column == "phone":
                if ring.blind_index(value) != old.phone_index:
                    return False
            elif column in _BORROWER_PERSONAL:
                if ring.decrypt(getattr(old, f"{column}_enc")) != value:
                    return False
            elif getattr(old, column) != value:
                return False
        return True

    def _same_contact(self, record: Record, old: Row[Any]) -> bool:
        return self._same_borrower(record, old)

    def _borrower(self, record: Record) -> Record:
        ring = self.keyring
        out: Record = {}
        for column, value in record.items():
            if column in _BORROWER_PERSONAL:
                out[f"{column}_enc"] = ring.encrypt(value)
                if column == "phone":
                    out["phone_index"] = ring.blind_index(value)
            else:
                out[column] = value
        return out

    def _contact(self, record: Record) -> Record:
        return self._borrower(record)

    def report(self, dry_run: bool) -> ImportReport:
        return ImportReport(
            {file.value: self.counts[file] for file in ExtractFile if file in self.counts},
            dry_run=dry_run,
        )

    def write(self, conn: Connection) -> None:
        for file in ExtractFile:
            rows = self.rows.get(file)
            if rows:
                WRITERS[file](conn, rows)


def _same_due_item(record: Record, old: Row[Any]) -> bool:
    return (old.due_on, old.principal, old.interest, old.fee) == (
        record["due_on"],
        record["principal"],
        record["interest"],
        record["fee"],
    )


def _same_columns(record: Record, old: Row[Any]) -> bool:
    return all(getattr(old, column) == value for column, value in record.items())


def _as_is(record: Record) -> Record:
    return record


# -- writing -----------------------------------------------------------------------------------


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"importing into {conn.dialect.name} is not supported")


def _chunks(rows: Sequence[Record]) -> Iterator[Sequence[Record]]:
    for i in range(0, len(rows), WRITE_CHUNK):
        yield rows[i : i + WRITE_CHUNK]


def _executemany(conn: Connection, stmt: Any, rows: Sequence[Record]) -> None:
    """One compiled statement, all rows through the driver's executemany.

    The statement is compiled once for the dialect and the parameters go to the driver as
    plain tuples (SQLite) or dicts (PostgreSQL): at a million rows, SQLAlchemy's per-row
    parameter processing would cost more than the database does.
    """
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    sql = str(compiled)
    order = compiled.positiontup
    extra = set(order or compiled.binds) - set(rows[0])
    assert not extra, f"statement binds {extra} that the rows do not carry; use literals"
    for chunk in _chunks(rows):
        if order is not None:  # positional paramstyle (SQLite's qmark)
            params: list[Any] = [tuple(_driver_value(r[k]) for k in order) for r in chunk]
        else:
            params = list(chunk)
        conn.exec_driver_sql(sql, params)


def _driver_value(value: Any) -> Any:
    # SQLite stores dates as ISO text (as SQLAlchemy's Date type does); other values as they are
    return value.isoformat() if isinstance(value, date) else value


def _upsert(conn: Connection, table: Table, rows: Sequence[Record], extra: Any = None) -> None:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE the columns the rows carry."""
    key = [c.name for c in table.primary_key.columns]
    stmt = _insert(conn, table)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in key}
    if extra is not None:
        update.update(extra(stmt.excluded))
    _executemany(conn, stmt.on_conflict_do_update(index_elements=key, set_=update), rows)


def _write_borrowers(conn: Connection, rows: Sequence[Record]) -> None:
    b = t.borrowers.c
    # a new number is worth trying again: a wrong / out-of-service mark applied to the old one
    _upsert(
        conn,
        t.borrowers,
        rows,
        lambda new: {
            "phone_status": case(
                (b.phone_index != new.phone_index, literal_column("'ok'")), else_=b.phone_status
            )
        },
    )


def _write_contacts(conn: Connection, rows: Sequence[Record]) -> None:
    c = t.contacts.c
    # a refusal or opt-out stays with the person; a wrong-number mark stays with the number
    _upsert(
        conn,
        t.contacts,
        rows,
        lambda new: {
            "status": case(
                (
                    (c.status == literal_column("'wrong_number'"))
                    & (c.phone_index != new.phone_index),
                    literal_column("'active'"),
                ),
                else_=c.status,
            )
        },
    )


def _write_accounts(conn: Connection, rows: Sequence[Record]) -> None:
    _upsert(conn, t.accounts, rows)


def _write_due_items(conn: Connection, rows: Sequence[Record]) -> None:
    # only due_on / principal / interest / fee are in the rows: paid parts, penalty and waivers
    # are the ledger's and stay as they are
    _upsert(conn, t.due_items, rows)
    reassess(conn, (str(r["account_id"]) for r in rows))


def _write_payments(conn: Connection, rows: Sequence[Record]) -> None:
    # posted_on stays NULL: the daily run posts payments received on or before its date
    stmt = _insert(conn, t.payments).on_conflict_do_nothing(index_elements=["id"])
    _executemany(conn, stmt, rows)


WRITERS = {
    ExtractFile.borrowers: _write_borrowers,
    ExtractFile.contacts: _write_contacts,
    ExtractFile.accounts: _write_accounts,
    ExtractFile.due_items: _write_due_items,
    ExtractFile.payments: _write_payments,
}
