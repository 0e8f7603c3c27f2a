"""Import host extracts: borrowers, contacts, accounts, due items and payments.

All or nothing, in bounded memory. The files are read in dependency order a batch of rows at a
time; each batch is validated against what the database holds (looked up in bulk, never row by
row), which by then includes the rows of this import written so far, and written with
set-based upserts (`INSERT ... ON CONFLICT DO UPDATE`), all in one transaction. Every problem
is reported as `file:line: column: message`; if there is any, the transaction is rolled back
and nothing is written. An id repeated within a file is found across batches through a
temporary table of the keys seen.

Re-running an import is safe: rows identical to what is stored are skipped, changed rows are
updated (paid parts of due items, contact and phone statuses are the platform's and are kept),
and a payment id already received with the same content is skipped (never posted twice).
"""

from __future__ import annotations

import csv
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import (
    Connection,
    Date,
    Engine,
    Row,
    Table,
    case,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from arrears.engine.delinquency import reassess
from arrears.observability import logs
from arrears.privacy.keyring import KeyRing
from arrears.services.disputes import DisputeSource, record_dispute
from arrears.services.import_formats import SPECS, ExtractFile
from arrears.services.import_rows import (
    DISPUTED_ON,
    Earlier,
    Extract,
    ImportProblem,
    ImportRejected,
    Record,
    References,
    Stored,
    StoredAccount,
    StoredPayment,
    header_problems,
    references,
    validate_batch,
)
from arrears.services.import_rows import Row as RawRow
from arrears.store import tables as t
from arrears.store.tables_compliance import disputes

__all__ = [
    "ExtractFile",
    "FileCounts",
    "ImportProblem",
    "ImportRejected",
    "ImportReport",
    "import_directory",
    "import_rows",
    "open_directory",
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

    def __add__(self, other: FileCounts) -> FileCounts:
        return FileCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.skipped + other.skipped,
        )


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
    engine: Engine,
    keyring: KeyRing,
    directory: Path,
    *,
    dry_run: bool = False,
    on_batch: Callable[[str, int], None] | None = None,
) -> ImportReport:
    """Import the host extracts found in directory (any subset of the five files).

    The files are read a batch of rows at a time: memory stays bounded whatever their size;
    `on_batch(file, rows)` hears of each batch read (the command's progress bar).
    """
    sources, problems = open_directory(directory)
    try:
        report = _import(engine, keyring, sources, problems, dry_run, on_batch)
    finally:
        for source in sources.values():
            source.close()
    for name, counts in report.files.items():  # counts per file: no row's content
        logs.event(
            "import",
            "file imported",
            directory=directory.name,
            file=name,
            dry_run=dry_run,
            inserted=counts.inserted,
            updated=counts.updated,
            skipped=counts.skipped,
        )
    return report


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
    sources: dict[ExtractFile, _Source] = {}
    problems: list[ImportProblem] = []
    for name, rows in extracts.items():
        file = _extract_file(name)
        if file is None:
            problems.append(ImportProblem(name, 0, "-", _unknown_file_message()))
            continue
        extract = extract_from_dicts(file, rows, problems)
        sources[file] = _RowsSource(extract)
    return _import(engine, keyring, sources, problems, dry_run)


def open_directory(directory: Path) -> tuple[dict[ExtractFile, _Source], list[ImportProblem]]:
    problems: list[ImportProblem] = []
    sources: dict[ExtractFile, _Source] = {}
    if not directory.is_dir():
        problems.append(ImportProblem(str(directory), 0, "-", "is not a directory"))
        return sources, problems
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() != ".csv":
            continue
        file = _extract_file(path.name)
        if file is None:
            problems.append(ImportProblem(path.name, 0, "-", _unknown_file_message()))
            continue
        sources[file] = _CsvSource(path, file)
    if not sources and not problems:
        names = ", ".join(f.value for f in ExtractFile)
        problems.append(
            ImportProblem(str(directory), 0, "-", f"holds no host extract; expected {names}")
        )
    return sources, problems


# -- reading -----------------------------------------------------------------------------------


class _Source:
    """The header and the rows of one extract, a batch at a time."""

    file: ExtractFile
    header: tuple[str, ...] = ()
    readable: bool = True  # False: the file itself was reported (empty, not UTF-8, not CSV)

    def open(self, problems: list[ImportProblem]) -> None:
        raise NotImplementedError

    def batches(self, problems: list[ImportProblem], size: int) -> Iterator[list[RawRow]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _RowsSource(_Source):
    def __init__(self, extract: Extract) -> None:
        self.file = extract.file
        self.extract = extract

    def open(self, problems: list[ImportProblem]) -> None:
        self.header = self.extract.header

    def batches(self, problems: list[ImportProblem], size: int) -> Iterator[list[RawRow]]:
        rows = self.extract.rows
        for i in range(0, len(rows), size):
            yield rows[i : i + size]


class _CsvSource(_Source):
    """A UTF-8 CSV file (a byte-order mark is allowed), read line by line."""

    def __init__(self, path: Path, file: ExtractFile) -> None:
        self.path = path
        self.file = file
        self.handle: BinaryIO | None = None
        self.reader: Any = None  # a csv reader
        self.nul = False  # the row being read holds a NUL character
        self.sink: list[ImportProblem] = []

    def _lines(self) -> Iterator[str]:
        assert self.handle is not None
        for number, raw in enumerate(self.handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.sink.append(
                    ImportProblem(
                        self.file, number, "-", "is not UTF-8 text; export the extract as UTF-8"
                    )
                )
                self.readable = False
                return
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            if "\x00" in line:
                self.nul = True
            yield line

    def open(self, problems: list[ImportProblem]) -> None:
        self.handle = self.path.open("rb")
        self.sink = problems
        reader = csv.reader(self._lines())
        self.reader = reader
        try:
            first = next(reader, None)
        except csv.Error as exc:
            self.readable = False
            problems.append(ImportProblem(self.file, 1, "-", f"is not valid CSV: {exc}"))
            return
        if first is None:
            if self.readable:  # not already reported as not UTF-8
                self.readable = False
                spec = SPECS[self.file]
                problems.append(
                    ImportProblem(
                        self.file,
                        0,
                        "-",
                        f"is empty; the first line is the header: {','.join(spec.required)}",
                    )
                )
            return
        self.header = tuple(h.strip() for h in first)
        self.nul = False

    def batches(self, problems: list[ImportProblem], size: int) -> Iterator[list[RawRow]]:
        reader = self.reader
        if reader is None or not self.readable:
            return
        self.sink = problems  # where the lines read from now on report a problem
        header = self.header
        width = len(header)
        line = reader.line_num + 1
        batch: list[RawRow] = []
        try:
            for cells in reader:
                start, line = line, reader.line_num + 1
                if self.nul:
                    self.nul = False
                    self._report_nul(problems, start, cells)
                    continue
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                if len(cells) != width:
                    problems.append(
                        ImportProblem(
                            self.file,
                            start,
                            "-",
                            f"has {len(cells)} fields but the header has {width}; "
                            "check delimiters and quoting",
                        )
                    )
                    continue
                batch.append((start, dict(zip(header, map(str.strip, cells), strict=True))))
                if len(batch) >= size:
                    yield batch
                    batch = []
        except csv.Error as exc:
            self.readable = False
            problems.append(ImportProblem(self.file, line, "-", f"is not valid CSV: {exc}"))
        if batch:
            yield batch

    def _report_nul(self, problems: list[ImportProblem], line: int, cells: list[str]) -> None:
        columns = [c for c, text in zip(self.header, cells, strict=False) if "\x00" in text]
        for column in columns or ["-"]:
            problems.append(
                ImportProblem(
                    self.file,
                    line,
                    column,
                    "holds a NUL character (U+0000); remove it (export the extract as plain text)",
                )
            )

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


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

BATCH = 20_000  # rows validated and written at a time: what bounds the import's memory
MAX_PROBLEMS = 1_000  # problems kept to report; the rest are counted
SQLITE_CACHE_KIB = -65_536  # SQLite's page cache during an import: 64 MiB


class _Problems:
    """The problems of an import: the first MAX_PROBLEMS kept, the others counted."""

    def __init__(self, first: list[ImportProblem]) -> None:
        self.kept: list[ImportProblem] = []
        self.omitted = 0
        self.add(first)

    def add(self, problems: list[ImportProblem]) -> None:
        room = MAX_PROBLEMS - len(self.kept)
        self.kept.extend(problems[:room])
        self.omitted += max(0, len(problems) - room)

    def duplicates(self, found: list[ImportProblem]) -> None:
        """Rows repeating an id of an earlier batch: that is their problem, not that the id
        was "already received" (from the earlier batch, in this very import)."""
        if found:
            where = {(p.file, p.line, p.column) for p in found}
            self.kept = [p for p in self.kept if (p.file, p.line, p.column) not in where]
            self.add(found)

    def __bool__(self) -> bool:
        return bool(self.kept)

    def rejected(self) -> ImportRejected:
        return ImportRejected(self.kept, omitted=self.omitted)


def _import(
    engine: Engine,
    keyring: KeyRing,
    sources: dict[ExtractFile, _Source],
    read_problems: list[ImportProblem],
    dry_run: bool,
    on_batch: Callable[[str, int], None] | None = None,
) -> ImportReport:
    """Validate and write each file a batch at a time, in one transaction: the files in
    dependency order, each batch checked against the database as the import has left it so
    far. Any problem anywhere rolls the whole transaction back: nothing is written."""
    problems = _Problems(read_problems)
    for file in ExtractFile:
        if file in sources:
            found: list[ImportProblem] = []
            sources[file].open(found)
            if sources[file].readable:
                found.extend(header_problems(SPECS[file], sources[file].header))
            problems.add(found)
    counts: dict[ExtractFile, FileCounts] = {}
    earlier = Earlier(unreadable={f for f, src in sources.items() if not src.readable})
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # temporary tables on disk, a smaller page cache: bounded memory
            cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql("PRAGMA temp_store=FILE")
            conn.exec_driver_sql(f"PRAGMA cache_size={SQLITE_CACHE_KIB}")
            conn.commit()
        try:
            with conn.begin() as transaction:
                _import_files(conn, keyring, sources, problems, earlier, counts, on_batch)
                if dry_run:
                    transaction.rollback()
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
                conn.exec_driver_sql(f"PRAGMA cache_size={int(cache or -2000)}")
                conn.commit()
    return ImportReport(
        {file.value: counts[file] for file in ExtractFile if file in counts}, dry_run=dry_run
    )


def _import_files(
    conn: Connection,
    keyring: KeyRing,
    sources: dict[ExtractFile, _Source],
    problems: _Problems,
    earlier: Earlier,
    counts: dict[ExtractFile, FileCounts],
    on_batch: Callable[[str, int], None] | None = None,
) -> None:
    seen = _SeenKeys(conn)
    for file in ExtractFile:
        source = sources.get(file)
        if source is None:
            continue
        total = FileCounts()
        found: list[ImportProblem] = []  # the reader's and the batch's, passed on as they come
        for number, rows in enumerate(source.batches(found, BATCH)):
            ex = Extract(file, source.header, rows)
            existing = _Existing.load(conn, references({file: ex}), file)
            result = validate_batch(ex, existing.stored, found, earlier)
            problems.add(found)
            found.clear()
            if file is ExtractFile.borrowers:
                earlier.bad_borrowers |= result.rejected_ids
            elif file is ExtractFile.accounts:
                earlier.bad_accounts |= result.rejected_ids
            seen.add(file, number, result.first_lines)
            records = _writable(file, result.records, earlier)
            plan = _Plan(keyring, existing, file, records, result.payments_seen)
            total = total + plan.counts
            plan.write(conn)
            if on_batch is not None:
                on_batch(file.value, len(rows))
        problems.add(found)
        if not source.readable:
            earlier.unreadable.add(file)
        problems.duplicates(seen.duplicates(file))
        counts[file] = total
    if problems or problems.omitted:
        raise problems.rejected()
    seen.drop()


_REFERS_TO = {
    ExtractFile.contacts: (ExtractFile.borrowers, "borrower_id"),
    ExtractFile.accounts: (ExtractFile.borrowers, "borrower_id"),
    ExtractFile.due_items: (ExtractFile.accounts, "account_id"),
    ExtractFile.payments: (ExtractFile.accounts, "account_id"),
}


def _writable(file: ExtractFile, records: list[Record], earlier: Earlier) -> list[Record]:
    """The records that can be written: not those referring to a row an earlier file could
    not give (the import is rejected by then; they are written only so that later files find
    what they refer to). An account left out is treated as a rejected one."""
    if file not in _REFERS_TO:
        return records
    parent, column = _REFERS_TO[file]
    if parent in earlier.unreadable:
        if file is ExtractFile.accounts:
            earlier.unreadable.add(ExtractFile.accounts)
        return []
    bad = earlier.bad_borrowers if parent is ExtractFile.borrowers else earlier.bad_accounts
    if not bad:
        return records
    kept = [r for r in records if r[column] not in bad]
    if file is ExtractFile.accounts and len(kept) < len(records):
        earlier.bad_accounts |= {r["id"] for r in records if r[column] in bad}
    return kept


class _SeenKeys:
    """Where each row's id was first seen, for the duplicates that fall in different batches
    (a batch reports its own): a temporary table of one row per batch and key."""

    TABLE = "import_seen_keys"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.batches: dict[ExtractFile, int] = {}
        self.created = False

    def add(self, file: ExtractFile, batch: int, first_lines: dict[tuple[str, ...], int]) -> None:
        self.batches[file] = batch + 1
        if batch == 0:
            self.first = first_lines  # a file of one batch needs no table
            return
        if batch == 1:
            self._create()
            self._insert(file, self.first)
        self._insert(file, first_lines)

    def _create(self) -> None:
        if self.created:
            return
        if self.conn.dialect.name == "sqlite":  # on disk (temp_store=FILE): bounded memory
            self.conn.exec_driver_sql(
                f"CREATE TEMP TABLE IF NOT EXISTS {self.TABLE} (file TEXT, k TEXT, line INTEGER)"
            )
            self.conn.exec_driver_sql(f"DELETE FROM {self.TABLE}")
        else:
            self.conn.exec_driver_sql(
                f"CREATE TEMP TABLE {self.TABLE} (file TEXT, k TEXT, line INTEGER) ON COMMIT DROP"
            )
        self.created = True

    def _insert(self, file: ExtractFile, first_lines: dict[tuple[str, ...], int]) -> None:
        rows = [
            {"file": file.value, "k": "/".join(key), "line": line}
            for key, line in first_lines.items()
            if all(key)
        ]
        if not rows:
            return
        if self.conn.dialect.name == "postgresql":
            driver = self.conn.connection.driver_connection
            assert driver is not None
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {self.TABLE} (file, k, line) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row((row["file"], row["k"], row["line"]))
        else:
            self.conn.exec_driver_sql(
                f"INSERT INTO {self.TABLE} (file, k, line) VALUES (?, ?, ?)",
                [(r["file"], r["k"], r["line"]) for r in rows],
            )

    def duplicates(self, file: ExtractFile) -> list[ImportProblem]:
        if self.batches.get(file, 0) < 2:
            return []
        spec = SPECS[file]
        found = self.conn.execute(
            text(
                f"""SELECT s.k, s.line, f.first FROM {self.TABLE} s
                    JOIN (SELECT k, MIN(line) AS first FROM {self.TABLE}
                          WHERE file = :file GROUP BY k HAVING COUNT(*) > 1) f ON f.k = s.k
                    WHERE s.file = :file AND s.line > f.first
                    ORDER BY s.line
                    LIMIT {MAX_PROBLEMS + 1}"""
            ),
            {"file": file.value},
        ).all()
        return [
            ImportProblem(
                file, line, spec.key[-1], f"{key} also appears on line {first}; one row per id"
            )
            for key, line, first in found
        ]

    def drop(self) -> None:
        if self.created and self.conn.dialect.name == "sqlite":
            self.conn.exec_driver_sql(f"DROP TABLE {self.TABLE}")


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
    def load(cls, conn: Connection, refs: References, file: ExtractFile) -> _Existing:
        """Whole rows of the file's own table (to tell changed rows from unchanged ones); of
        the tables it refers to, only what its validation needs."""
        b, a = t.borrowers, t.accounts
        borrowers = {r.id: r for r in _fetch(conn, b, b.c.id, refs.borrower_ids)}
        contacts = {r.id: r for r in _fetch(conn, t.contacts, t.contacts.c.id, refs.contact_ids)}
        account_columns = (
            a
            if file is ExtractFile.accounts
            else (a.c.id, a.c.borrower_id, a.c.currency, a.c.opened_on)
        )
        accounts = {r.id: r for r in _fetch(conn, account_columns, a.c.id, refs.account_ids)}
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


def _fetch(conn: Connection, what: Any, column: Any, ids: set[str]) -> Iterator[Any]:
    """Rows of `what` (a table or columns) whose `column` is one of ids, a chunk at a time, as
    named tuples straight from the driver (an import looks up millions of rows: SQLAlchemy's
    per-row and per-parameter work would cost more than the database's)."""
    columns = list(what.columns) if isinstance(what, Table) else list(what)
    if not ids:
        return
    table = columns[0].table.name
    names = [c.name for c in columns]
    shape = _row_type(tuple(names))
    select_list = ", ".join(f'"{n}"' for n in names)
    driver = conn.connection.driver_connection
    assert driver is not None
    ordered = sorted(ids)
    if conn.dialect.name == "postgresql":  # one array parameter, however many ids
        sql = f'SELECT {select_list} FROM {table} WHERE "{column.name}" = ANY(%s)'
        with driver.cursor() as cursor:
            yield from map(shape._make, cursor.execute(sql, (ordered,)).fetchall())
        return
    # SQLite hands dates back as their ISO text
    dated = [i for i, c in enumerate(columns) if isinstance(c.type, Date)]
    for i in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[i : i + LOOKUP_CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = f'SELECT {select_list} FROM {table} WHERE "{column.name}" IN ({marks})'
        rows = driver.execute(sql, chunk).fetchall()
        if dated:
            rows = [_dates_read(row, dated) for row in rows]
        yield from map(shape._make, rows)


@cache
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("StoredRow", names)


def _dates_read(row: tuple[Any, ...], dated: list[int]) -> tuple[Any, ...]:
    out = list(row)
    for i in dated:
        if isinstance(out[i], str):
            out[i] = _iso_date(out[i])
    return tuple(out)


@lru_cache(maxsize=1 << 14)
def _iso_date(text: str) -> date:
    return date.fromisoformat(text)


# columns a re-import overwrites; everything else on the row belongs to the platform
_BORROWER_PERSONAL = ("name", "phone", "email", "id_number", "address")


class _Plan:
    """Splits validated rows into inserts, updates and unchanged rows; encrypts personal data."""

    def __init__(
        self,
        keyring: KeyRing,
        existing: _Existing,
        file: ExtractFile,
        records: list[Record],
        payments_seen: int,
    ) -> None:
        self.keyring = keyring
        self.existing = existing
        self.file = file
        self.payments_seen = payments_seen
        self.counts = FileCounts()
        self.rows: list[Record] = []
        # accounts whose stored rows the import changes: a changed item is assessed again
        self.changed_accounts: set[str] = set()
        # (account, borrower, day) of the accounts the extract says the borrower disputes
        self.disputes = [
            (r["id"], r["borrower_id"], r.pop(DISPUTED_ON))
            for r in records
            if r.get(DISPUTED_ON) is not None
        ]
        for r in records:
            r.pop(DISPUTED_ON, None)
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
                if file is ExtractFile.due_items:
                    self.changed_accounts.add(str(record["account_id"]))
            out.append(encode(record))
        if file is ExtractFile.payments:
            skipped += self.payments_seen
        self.counts = FileCounts(inserted, updated, skipped)
        self.rows = out

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

    def write(self, conn: Connection) -> None:
        if self.rows:
            WRITERS[self.file](conn, self.rows)
        # a new item brings its figures itself (store/unassessed.py); a changed one is refigured
        reassess(conn, self.changed_accounts)
        if self.disputes:
            _record_disputes(conn, self.keyring, self.disputes)


def _record_disputes(
    conn: Connection, keyring: KeyRing, found: Sequence[tuple[str, str, date]]
) -> None:
    """A dispute per account and day the extract names (source import), once: re-importing
    the same file records nothing new. Collection of the borrower's case pauses."""
    x = disputes.c
    for account_id, borrower_id, day in found:
        known = conn.execute(
            select(x.id).where(
                x.account_id == account_id,
                x.raised_on == day,
                x.source == DisputeSource.IMPORT.value,
            )
        ).first()
        if known is None:
            record_dispute(
                conn,
                source=DisputeSource.IMPORT,
                on=day,
                by="import",
                at=datetime.now(UTC),
                borrower_id=borrower_id,
                account_id=account_id,
                keyring=keyring,
            )


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
    if order is not None:  # positional paramstyle (SQLite's qmark)
        get = itemgetter(*order) if len(order) > 1 else (lambda r: (r[order[0]],))
        dated = [i for i, k in enumerate(order) if isinstance(rows[0][k], date)]
    for chunk in _chunks(rows):
        if order is None:
            params: list[Any] = list(chunk)
        elif not dated:
            params = [get(r) for r in chunk]
        else:
            params = [_driver_values(get(r), dated) for r in chunk]
        conn.exec_driver_sql(sql, params)


def _driver_values(values: tuple[Any, ...], dated: list[int]) -> tuple[Any, ...]:
    # SQLite stores dates as ISO text (as SQLAlchemy's Date type does); other values as they are
    out = list(values)
    for i in dated:
        if isinstance(out[i], date):
            out[i] = out[i].isoformat()
    return tuple(out)


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
