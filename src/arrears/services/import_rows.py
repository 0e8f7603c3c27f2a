"""Validation of host-extract rows: every problem in every file, before anything is written.

Input is the raw content of each extract (header + `(line, cells)` rows, cells stripped) and
what the database already holds about the ids the extracts refer to (`Stored`, looked up in
bulk by the importing service). Output is the rows in table shape — personal data still in
plain text, the service encrypts it — or `ImportRejected` with every problem found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from arrears.services import feed_rules as rules
from arrears.services import import_formats as fmt
from arrears.services.import_formats import SPECS, ExtractFile, FieldInvalid, FileSpec

Row = tuple[int, dict[str, str]]  # (line in the file, column -> stripped cell text)
Record = dict[str, Any]


@dataclass(frozen=True, order=True)
class ImportProblem:
    """One thing wrong with an import; shown as `file:line: column: message`.

    Line 1 is the header, data starts on line 2; a problem with a whole file has line 0 and
    column `-`.
    """

    file: str
    line: int
    column: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "file", str(self.file))  # an ExtractFile becomes its name

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.message}"


class ImportRejected(Exception):
    """The import had problems; nothing was written. `problems` lists them (the first ones
    found, when there are very many: `omitted` counts the others)."""

    def __init__(self, problems: list[ImportProblem], omitted: int = 0) -> None:
        self.problems = sorted(problems, key=_problem_order)
        self.omitted = omitted
        first = str(self.problems[0]) if self.problems else "no problems"
        more = f" (and {omitted} more not listed)" if omitted else ""
        super().__init__(
            f"import rejected with {len(self.problems) + omitted} problem(s){more}, nothing was "
            f"written; first: {first}"
        )


def _problem_order(p: ImportProblem) -> tuple[int, int, str]:
    order = [str(f) for f in ExtractFile]
    rank = order.index(p.file) if p.file in order else len(order)
    return (rank, p.line, p.column)


@dataclass
class Extract:
    """The raw content of one host extract."""

    file: ExtractFile
    header: tuple[str, ...]
    rows: list[Row]
    readable: bool = True  # False: the file itself was reported (empty, not UTF-8, not CSV)


@dataclass(frozen=True)
class StoredAccount:
    borrower_id: str
    currency: str
    opened_on: date


@dataclass(frozen=True)
class StoredPayment:
    account_id: str
    amount: int
    currency: str
    received_on: date


@dataclass
class Stored:
    """What the database holds about the ids an import refers to."""

    borrower_ids: set[str] = field(default_factory=set)
    accounts: dict[str, StoredAccount] = field(default_factory=dict)
    # (account_id, seq) -> (paid_principal, paid_interest, paid_fee)
    due_paid: dict[tuple[str, int], tuple[int, int, int]] = field(default_factory=dict)
    payments: dict[str, StoredPayment] = field(default_factory=dict)


@dataclass
class References:
    """The ids an import refers to, so the service can look them all up at once."""

    borrower_ids: set[str] = field(default_factory=set)
    contact_ids: set[str] = field(default_factory=set)
    account_ids: set[str] = field(default_factory=set)
    due_item_account_ids: set[str] = field(default_factory=set)
    payment_ids: set[str] = field(default_factory=set)


@dataclass
class Validated:
    """Rows ready to write, in table shape; personal data (name, phone, email, id_number,
    address) is still plain text under those keys."""

    headers: dict[ExtractFile, tuple[str, ...]]
    records: dict[ExtractFile, list[Record]]
    payments_seen: int = 0


def references(extracts: Mapping[ExtractFile, Extract]) -> References:
    refs = References()
    for ex in extracts.values():
        for _, cells in ex.rows:
            if bid := cells.get("borrower_id"):
                refs.borrower_ids.add(bid)
            if aid := cells.get("account_id"):
                refs.account_ids.add(aid)
                if ex.file is ExtractFile.due_items:
                    refs.due_item_account_ids.add(aid)
            if cid := cells.get("contact_id"):
                refs.contact_ids.add(cid)
            if pid := cells.get("payment_id"):
                refs.payment_ids.add(pid)
    return refs


def header_problems(spec: FileSpec, header: Iterable[str]) -> list[ImportProblem]:
    seen = list(header)
    out = []
    for column in spec.required:
        if column not in seen:
            out.append(
                ImportProblem(
                    spec.file,
                    1,
                    column,
                    f"required column is missing; the header needs {', '.join(spec.required)}",
                )
            )
    allowed = ", ".join(spec.columns)
    for i, column in enumerate(seen):
        if column not in spec.columns:
            out.append(
                ImportProblem(
                    spec.file, 1, column or "-", f"unknown column; the columns are {allowed}"
                )
            )
        elif column in seen[:i]:
            out.append(ImportProblem(spec.file, 1, column, "column appears twice in the header"))
    return out


class _Cells:
    """Reads the cells of one row, recording a problem for each one that cannot be read."""

    __slots__ = ("cells", "file", "line", "may_be_empty", "ok", "problems")

    def __init__(
        self, spec: FileSpec, line: int, cells: dict[str, str], problems: list[ImportProblem]
    ) -> None:
        self.file = spec.file
        self.may_be_empty = spec.may_be_empty
        self.line = line
        self.cells = cells
        self.problems = problems
        self.ok = True

    def problem(self, column: str, message: str) -> None:
        self.ok = False
        self.problems.append(ImportProblem(self.file, self.line, column, message))

    def read(self, column: str, reader: Callable[..., Any], *args: Any) -> Any:
        text = self.cells.get(column)
        if text is None:  # not in the header: reported once, on line 1
            return None
        if text == "":
            if column not in self.may_be_empty:
                self.problem(column, "is empty; this column needs a value")
            return None
        try:
            return reader(text, *args)
        except FieldInvalid as exc:
            self.problem(column, str(exc))
            return None


DISPUTED_ON = "disputed_on"  # not a column of accounts: a dispute the import records


@dataclass
class Earlier:
    """What the files of an import read before this one left behind for it."""

    unreadable: set[ExtractFile] = field(default_factory=set)
    bad_borrowers: set[str] = field(default_factory=set)  # rows with a problem: not written
    bad_accounts: set[str] = field(default_factory=set)


@dataclass
class BatchResult:
    records: list[Record]
    payments_seen: int
    rejected_ids: set[str]
    # key of each row that passed its own batch's duplicate check -> its line
    first_lines: dict[tuple[str, ...], int]


def validate_batch(
    ex: Extract, stored: Stored, problems: list[ImportProblem], earlier: Earlier
) -> BatchResult:
    """Check one batch of rows of one extract against what is stored (which holds the rows of
    this import written so far); problems are appended, never raised."""
    v = _Validation({ex.file: ex}, stored, problems, earlier)
    records = v.check(ex)
    return BatchResult(records, v.payments_seen, v.rejected_ids, v.first_line)


def validate(extracts: Mapping[ExtractFile, Extract], stored: Stored) -> Validated:
    """Check every row of every extract; raise ImportRejected listing all problems."""
    problems: list[ImportProblem] = []
    for ex in extracts.values():
        if ex.readable:
            problems.extend(header_problems(SPECS[ex.file], ex.header))
    v = _Validation(extracts, stored, problems)
    out = Validated(headers={f: ex.header for f, ex in extracts.items()}, records={})
    for file in ExtractFile:
        if file in extracts and extracts[file].readable:
            out.records[file] = v.check(extracts[file])
    out.payments_seen = v.payments_seen
    if problems:
        raise ImportRejected(problems)
    return out


class _Validation:
    def __init__(
        self,
        extracts: Mapping[ExtractFile, Extract],
        stored: Stored,
        problems: list[ImportProblem],
        earlier: Earlier | None = None,
    ) -> None:
        self.stored = stored
        self.problems = problems
        self.payments_seen = 0
        earlier = earlier or Earlier()
        # ids of rows that had a problem (reported there, not again where they are referred to)
        self.rejected_ids: set[str] = set()

        def ids(file: ExtractFile, column: str) -> set[str]:
            ex = extracts.get(file)
            return {c[column] for _, c in ex.rows if c.get(column)} if ex else set()

        self.file_borrowers = ids(ExtractFile.borrowers, "borrower_id") | earlier.bad_borrowers
        # accounts a row referred to without any problem: (currency, opened on)
        self.clean_accounts: dict[str, tuple[str, date]] = {}
        # an unreadable file was reported once; its ids are not reported again as unknown
        self.any_borrower = (
            _unreadable(extracts, ExtractFile.borrowers)
            or ExtractFile.borrowers in earlier.unreadable
        )
        self.any_account = (
            _unreadable(extracts, ExtractFile.accounts)
            or ExtractFile.accounts in earlier.unreadable
        )
        # accounts of this import: id -> (currency, opened_on), None where the cell is bad
        self.file_accounts: dict[str, tuple[str | None, date | None]] = dict.fromkeys(
            earlier.bad_accounts, (None, None)
        )
        accounts = extracts.get(ExtractFile.accounts)
        for _, cells in accounts.rows if accounts else ():
            aid = cells.get("account_id")
            if aid and aid not in self.file_accounts:
                self.file_accounts[aid] = (
                    _quiet(fmt.currency, cells.get("currency")),
                    _quiet(fmt.iso_date, cells.get("opened_on")),
                )

    def check(self, ex: Extract) -> list[Record]:
        spec = SPECS[ex.file]
        checker = getattr(self, f"_{ex.file.name}")
        fast = getattr(self, f"_fast_{ex.file.name}", None)
        first_line: dict[tuple[str, ...], int] = {}
        self.first_line = first_line
        records: list[Record] = []
        simple_key = spec.key[0] if spec.key in (("payment_id",), ("account_id",)) else None
        for line, cells in ex.rows:
            if simple_key is not None:
                key: tuple[str, ...] = (cells.get(simple_key, ""),)
            else:
                key = tuple(_key_part(c, cells.get(c, "")) for c in spec.key)
            seen_on = first_line.setdefault(key, line) if all(key) else line
            if fast is not None and seen_on == line:
                record = fast(cells)
                if record is not None:
                    records.append(record)
                    continue
            # the careful path: every cell read on its own, every problem recorded
            row = _Cells(spec, line, cells, self.problems)
            if seen_on != line:
                row.problem(
                    spec.key[-1],
                    f"{'/'.join(cells[c] for c in spec.key)} also appears on line {seen_on}; "
                    "one row per id",
                )
            record = checker(row)
            if row.ok and record is not None:
                records.append(record)
            elif not row.ok and (rid := cells.get(spec.key[0])):
                self.rejected_ids.add(rid)
        return records

    def _fast_due_items(self, cells: dict[str, str]) -> Record | None:
        """The record of a clean row of a known account, or None: take the careful path.

        Uses the same readers as `_due_items`, so it accepts nothing the careful path would
        refuse; it only skips the bookkeeping that a clean row does not need.
        """
        try:
            aid = cells["account_id"]
            ccy, opened = self.clean_accounts[aid]
            n = fmt.seq(cells["seq"])
            due_on = fmt.iso_date(cells["due_on"])
            principal = fmt.amount_minor(cells["principal"], ccy)
            interest = fmt.amount_minor(cells["interest"], ccy)
            fee = fmt.amount_minor(cells["fee"], ccy)
        except (KeyError, FieldInvalid):
            return None
        record = {
            "account_id": aid,
            "seq": n,
            "due_on": due_on,
            "principal": principal,
            "interest": interest,
            "fee": fee,
        }
        paid = self.stored.due_paid.get((aid, n))
        if rules.due_item_breaches(aid, n, due_on, record, ccy, opened, paid):
            return None
        return record

    def _fast_payments(self, cells: dict[str, str]) -> Record | None:
        """The record of a clean new payment to a stored account, or None: the careful path.

        The same readers and checks as `_payments`, without the per-cell bookkeeping a clean
        row does not need (the daily feed is millions of such rows)."""
        try:
            aid = cells["account_id"]
            if aid in self.file_accounts:
                return None
            account = self.stored.accounts[aid]
            ccy = cells["currency"]
            if ccy != account.currency:
                return None
            pid = fmt.identifier(cells["payment_id"])
            amount = fmt.amount_minor(cells["amount"], ccy)
            received_on = fmt.iso_date(cells["received_on"])
        except (KeyError, FieldInvalid):
            return None
        if pid in self.stored.payments or rules.payment_breaches(
            aid, amount, ccy, account.currency, received_on, account.opened_on
        ):
            return None
        return {
            "id": pid,
            "account_id": aid,
            "amount": amount,
            "currency": ccy,
            "received_on": received_on,
        }

    # -- references ------------------------------------------------------------------------

    def _borrower_ref(self, row: _Cells) -> str | None:
        bid: str | None = row.read("borrower_id", fmt.identifier)
        known = self.any_borrower or bid in self.file_borrowers or bid in self.stored.borrower_ids
        if bid and not known:
            row.problem(
                "borrower_id",
                f"unknown borrower {bid}: in neither borrowers.csv nor the database; "
                "add the borrower to borrowers.csv",
            )
        return bid

    def _account_ref(self, row: _Cells) -> tuple[str | None, str | None, date | None]:
        """(account id, its currency, opened on) — None where unknown."""
        aid: str | None = row.read("account_id", fmt.identifier)
        if aid is None:
            return None, None, None
        if aid in self.file_accounts:
            ccy, opened = self.file_accounts[aid]
            if row.ok and ccy and opened:
                self.clean_accounts[aid] = (ccy, opened)
            return aid, ccy, opened
        acc = self.stored.accounts.get(aid)
        if acc is None and self.any_account:
            return aid, None, None
        if acc is None:
            row.problem(
                "account_id",
                f"unknown account {aid}: in neither accounts.csv nor the database; "
                "add the account to accounts.csv",
            )
            return aid, None, None
        if row.ok:
            self.clean_accounts[aid] = (acc.currency, acc.opened_on)
        return aid, acc.currency, acc.opened_on

    # -- one checker per file ----------------------------------------------------------------

    def _borrowers(self, row: _Cells) -> Record:
        record = {
            "id": row.read("borrower_id", fmt.identifier),
            "name": row.read("name", fmt.plain_text, 200),
            "phone": row.read("phone", fmt.phone),
            "email": row.read("email", fmt.email),
            "timezone": row.read("timezone", fmt.timezone),
            "language": row.read("language", fmt.language),
        }
        optional: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
            "region": (fmt.plain_text, (32,)),
            "risk_score": (fmt.risk_score, ()),
            "id_number": (fmt.plain_text, (64,)),
            "address": (fmt.plain_text, (500,)),
            "jurisdiction": (fmt.jurisdiction, ()),
        }
        for column, (reader, args) in optional.items():
            if column in row.cells:
                record[column] = row.read(column, reader, *args)
        return record

    def _contacts(self, row: _Cells) -> Record:
        return {
            "id": row.read("contact_id", fmt.identifier),
            "borrower_id": self._borrower_ref(row),
            "name": row.read("name", fmt.plain_text, 200),
            "relationship": row.read("relationship", fmt.relationship),
            "phone": row.read("phone", fmt.phone),
            "consent": row.read("consent", fmt.consent),
        }

    def _accounts(self, row: _Cells) -> Record:
        aid = row.read("account_id", fmt.identifier)
        ccy = row.read("currency", fmt.currency)
        record = {
            "id": aid,
            "borrower_id": self._borrower_ref(row),
            "product": row.read("product", fmt.product),
            "currency": ccy,
            "principal": row.read("principal", fmt.amount_minor, ccy),
            "annual_rate_ppm": row.read("annual_rate", fmt.rate_ppm),
            "penalty_rate_ppm": row.read("penalty_rate", fmt.rate_ppm),
            "opened_on": row.read("opened_on", fmt.iso_date),
        }
        if "waterfall" in row.cells:
            record["waterfall"] = row.read("waterfall", fmt.waterfall)
        if row.cells.get("disputed_on"):  # the borrower disputes the account (services/disputes)
            disputed = row.read("disputed_on", fmt.iso_date)
            opened = record["opened_on"]
            if disputed is not None and opened is not None and disputed < opened:
                row.problem("disputed_on", f"{disputed} is before the account opened ({opened})")
            record[DISPUTED_ON] = disputed
        stored = self.stored.accounts.get(aid) if aid else None
        if stored and ccy and stored.currency != ccy:
            row.problem(
                "currency",
                f"account {aid} is booked in {stored.currency}; "
                "a different currency needs a new account id",
            )
        return record

    def _due_items(self, row: _Cells) -> Record:
        aid, ccy, opened = self._account_ref(row)
        n = row.read("seq", fmt.seq)
        due_on: date | None = row.read("due_on", fmt.iso_date)
        record = {
            "account_id": aid,
            "seq": n,
            "due_on": due_on,
            "principal": row.read("principal", fmt.amount_minor, ccy),
            "interest": row.read("interest", fmt.amount_minor, ccy),
            "fee": row.read("fee", fmt.amount_minor, ccy),
        }
        paid = self.stored.due_paid.get((aid, n)) if aid and n else None
        for breach in rules.due_item_breaches(aid or "", n, due_on, record, ccy, opened, paid):
            row.problem(breach.column, breach.message)
        return record

    def _payments(self, row: _Cells) -> Record | None:
        pid = row.read("payment_id", fmt.identifier)
        aid, acc_ccy, opened = self._account_ref(row)
        ccy = row.read("currency", fmt.currency)
        amount = row.read("amount", fmt.amount_minor, ccy)
        received_on: date | None = row.read("received_on", fmt.iso_date)
        for breach in rules.payment_breaches(aid, amount, ccy, acc_ccy, received_on, opened):
            row.problem(breach.column, breach.message)
        seen = self.stored.payments.get(pid) if pid else None
        if seen is not None:
            if (seen.account_id, seen.amount, seen.currency, seen.received_on) == (
                aid,
                amount,
                ccy,
                received_on,
            ):
                self.payments_seen += 1
                return None
            where = "" if seen.account_id == aid else f" for account {seen.account_id}"
            row.problem(
                "payment_id",
                f"{pid} was already received{where} with amount "
                f"{fmt.format_minor(seen.amount, seen.currency)} on {seen.received_on}; "
                "a correction needs a new id",
            )
            return None
        return {
            "id": pid,
            "account_id": aid,
            "amount": amount,
            "currency": ccy,
            "received_on": received_on,
        }


def _key_part(column: str, text: str) -> str:
    # seq 01 and 1 are the same due item; ids are compared as written
    return (text.lstrip("0") or text) if column == "seq" else text


def _unreadable(extracts: Mapping[ExtractFile, Extract], file: ExtractFile) -> bool:
    ex = extracts.get(file)
    return ex is not None and not ex.readable


def _quiet(reader: Callable[[str], Any], text: str | None) -> Any:
    """The value, or None when the cell is missing or bad (its own row reports it)."""
    if not text:
        return None
    try:
        return reader(text)
    except FieldInvalid:
        return None
