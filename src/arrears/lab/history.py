"""The performance history: one row per account and month, loaded all or nothing into a
columnar frame (numpy arrays) the lab computes on without a per-row loop.

Format (docs/formats.md, "Performance history"): a CSV with the columns
`account_id, month, dpd_bucket and/or days_past_due, balance, paid` and optionally `currency`
and `opened` (the origination month, for vintage curves). Amounts are kept exactly, as
integers in the currency's minor unit.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import numpy.typing as npt

from arrears.domain.delinquency import DEFAULT_BUCKETS, BucketScheme
from arrears.domain.money import CurrencyUnknown, minor_units

REQUIRED = ("account_id", "month", "balance", "paid")
STATUS = ("dpd_bucket", "days_past_due")
OPTIONAL = (*STATUS, "currency", "opened")
COLUMNS = (*REQUIRED, *OPTIONAL)
MAX_LISTED = 1000

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_INT = re.compile(r"[0-9]+")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class HistoryProblem:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f" column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class HistoryInvalid(ValueError):
    """The history file was rejected as a whole; `problems` lists every bad cell found."""

    def __init__(self, problems: list[HistoryProblem], more: int = 0) -> None:
        self.problems = problems
        self.more = more
        lines = [str(p) for p in problems[:20]]
        hidden = len(problems) - len(lines) + more
        if hidden:
            lines.append(f"... and {hidden} more problems")
        super().__init__("history rejected, nothing loaded:\n" + "\n".join(lines))


def month_index(text: str) -> int:
    """'2005-04' → 2005*12 + 3; raises ValueError for anything else."""
    match = _MONTH.fullmatch(text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{text!r} is not a month; write YYYY-MM, e.g. 2005-04")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class History:
    """Rows sorted by (account, month). Codes index `account_ids`, `months`, `labels`."""

    currency: str
    labels: tuple[str, ...]  # bucket labels, M0 first, the last one is write-off
    account_ids: tuple[str, ...]
    first_month: int  # month_index of month code 0
    account: IntArray
    month: IntArray  # 0 = first_month; months between are all present as codes
    bucket: IntArray
    dpd: IntArray  # -1 where the row gave a bucket only
    balance: IntArray  # minor units; negative is a credit balance
    paid: IntArray  # minor units
    opened: IntArray  # origination month code (may be < 0), or NO_VINTAGE

    NO_VINTAGE = -(10**9)

    @property
    def months(self) -> tuple[str, ...]:
        n = int(self.month.max()) + 1 if len(self.month) else 0
        return tuple(month_label(self.first_month + m) for m in range(n))

    @property
    def has_vintage(self) -> bool:
        return bool(len(self.opened)) and bool((self.opened != History.NO_VINTAGE).all())

    def __len__(self) -> int:
        return len(self.account)

    def grid(self, values: IntArray, missing: int = -1) -> IntArray:
        """An (accounts × months) matrix of `values`, `missing` where an account has no row."""
        out = np.full((len(self.account_ids), len(self.months)), missing, dtype=np.int64)
        out[self.account, self.month] = values
        return out

    def month_code(self, label: str) -> int:
        code = month_index(label) - self.first_month
        if not 0 <= code < len(self.months):
            raise ValueError(f"month {label} is not in the history ({self.span()})")
        return code

    def span(self) -> str:
        months = self.months
        return f"{months[0]} to {months[-1]}" if months else "empty"


@dataclass
class _Columns:
    account: list[str]
    month: list[int]
    bucket: list[int]
    dpd: list[int]
    balance: list[int]
    paid: list[int]
    opened: list[int]


class _Reader:
    """Checks one row at a time; collects every problem instead of stopping at the first."""

    def __init__(self, file: str, currency: str | None, buckets: BucketScheme) -> None:
        self.file = file
        self.currency = currency
        self.buckets = buckets
        self.labels = {r.label: i for i, r in enumerate(buckets.ranges())}
        self.problems: list[HistoryProblem] = []
        self.more = 0
        self.cols = _Columns([], [], [], [], [], [], [])
        self.seen: dict[tuple[str, int], int] = {}

    def problem(self, line: int, column: str, message: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(HistoryProblem(self.file, line, column, message))
        else:
            self.more += 1

    def header(self, names: list[str]) -> bool:
        ok = True
        for name in names:
            if name not in COLUMNS:
                self.problem(1, name, f"unknown column; the columns are {', '.join(COLUMNS)}")
                ok = False
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.problem(1, name, "column appears more than once")
            ok = False
        for name in REQUIRED:
            if name not in names:
                self.problem(1, name, "required column missing")
                ok = False
        if not any(s in names for s in STATUS):
            self.problem(1, "dpd_bucket", "give dpd_bucket or days_past_due (or both)")
            ok = False
        if self.currency is None and "currency" not in names:
            self.problem(1, "currency", "no currency column and no currency given")
            ok = False
        return ok

    def row(self, line: int, row: Mapping[str, str]) -> None:
        before = len(self.problems) + self.more
        account = self._account(line, row["account_id"])
        month = self._month(line, "month", row["month"])
        currency = self._currency(line, row.get("currency"))
        bucket, dpd = self._status(line, row.get("dpd_bucket"), row.get("days_past_due"))
        balance = self._amount(line, "balance", row["balance"], currency, signed=True)
        paid = self._amount(line, "paid", row["paid"], currency, signed=False)
        opened_text = row.get("opened")
        opened: int | None = History.NO_VINTAGE
        if opened_text is not None:
            opened = self._month(line, "opened", opened_text)
        if month is not None and account is not None:
            first = self.seen.setdefault((account, month), line)
            if first != line:
                again = f"account {account} already has {month_label(month)} (line {first})"
                self.problem(line, "month", again)
        if len(self.problems) + self.more > before:
            return
        c = self.cols
        c.account.append(account or "")
        c.month.append(month or 0)
        c.bucket.append(bucket)
        c.dpd.append(dpd)
        c.balance.append(balance or 0)
        c.paid.append(paid or 0)
        c.opened.append(opened or 0)

    def _account(self, line: int, text: str) -> str | None:
        if _ID.fullmatch(text) is None:
            self.problem(
                line, "account_id", f"{text!r} is not an id (1-64 letters, digits, . _ : / -)"
            )
            return None
        return text

    def _month(self, line: int, column: str, text: str) -> int | None:
        try:
            return month_index(text)
        except ValueError as exc:
            self.problem(line, column, str(exc))
            return None

    def _currency(self, line: int, text: str | None) -> str:
        code = text or self.currency
        assert code is not None  # the header check made sure one is given
        try:
            minor_units(code)
        except CurrencyUnknown as exc:
            self.problem(line, "currency", str(exc))
            return code
        if self.currency is None:
            self.currency = code
        elif code != self.currency:
            self.problem(
                line, "currency", f"{code} differs from {self.currency}; one currency per history"
            )
        return code

    def _status(self, line: int, label: str | None, days: str | None) -> tuple[int, int]:
        bucket, dpd = -1, -1
        if days:
            if _INT.fullmatch(days) is None:
                self.problem(line, "days_past_due", f"{days!r} is not a whole number of days ≥ 0")
            else:
                dpd = int(days)
                bucket = self.labels[self.buckets.bucket_of(dpd)]
        if label:
            if label not in self.labels:
                self.problem(
                    line, "dpd_bucket", f"{label!r} is not a bucket; use {', '.join(self.labels)}"
                )
            elif bucket >= 0 and self.labels[label] != bucket:
                self.problem(line, "dpd_bucket", f"{label} disagrees with days_past_due {dpd}")
            else:
                bucket = self.labels[label]
        elif not days:
            self.problem(line, "dpd_bucket", "blank: give dpd_bucket or days_past_due")
        return bucket, dpd

    def _amount(
        self, line: int, column: str, text: str, currency: str, *, signed: bool
    ) -> int | None:
        if _AMOUNT.fullmatch(text) is None or (not signed and text.startswith("-")):
            sign = "an optional minus sign, " if signed else ""
            self.problem(
                line, column, f"{text!r} is not an amount ({sign}digits, optional decimal point)"
            )
            return None
        try:
            scaled = Decimal(text).scaleb(minor_units(currency))
        except (InvalidOperation, CurrencyUnknown):
            return None
        if scaled != scaled.to_integral_value():
            self.problem(line, column, f"{text!r} has more decimals than {currency} allows")
            return None
        return int(scaled)


def load_history(
    path: Path, currency: str | None = None, buckets: BucketScheme = DEFAULT_BUCKETS
) -> History:
    """Read a history CSV; every problem found is reported at once, nothing half loaded."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return read_history(handle, path.name, currency, buckets)


def read_history(
    lines: Iterable[str],
    name: str = "history.csv",
    currency: str | None = None,
    buckets: BucketScheme = DEFAULT_BUCKETS,
) -> History:
    reader = _Reader(name, currency, buckets)
    rows = csv.reader(iter(lines))
    header = [h.strip() for h in next(rows, [])]
    if not header:
        raise HistoryInvalid([HistoryProblem(name, 1, "", "empty file: no header line")])
    if not reader.header(header):
        raise HistoryInvalid(reader.problems)
    for line, cells in _numbered(rows):
        if len(cells) != len(header):
            reader.problem(line, "", f"{len(cells)} fields where the header has {len(header)}")
            continue
        reader.row(line, {h: c.strip() for h, c in zip(header, cells, strict=True)})
    if reader.problems:
        raise HistoryInvalid(reader.problems, reader.more)
    if reader.currency is None or not reader.cols.account:
        raise HistoryInvalid([HistoryProblem(name, 2, "", "no rows: the history is empty")])
    return _frame(reader.cols, reader.currency, tuple(reader.labels))


def _numbered(rows: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    for cells in rows:
        # csv.reader's line_num is the physical line the row ended on
        line = rows.line_num  # type: ignore[attr-defined]
        if cells and any(c.strip() for c in cells):
            yield line, cells


def _frame(c: _Columns, currency: str, labels: tuple[str, ...]) -> History:
    ids, account = np.unique(np.array(c.account, dtype=object), return_inverse=True)
    month = np.array(c.month, dtype=np.int64)
    first = int(month.min()) if len(month) else 0
    month -= first
    order = np.lexsort((month, account))
    opened = np.array(c.opened, dtype=np.int64)
    opened = np.where(opened == History.NO_VINTAGE, opened, opened - first)

    def col(values: list[int] | npt.NDArray[np.int64]) -> IntArray:
        return np.asarray(values, dtype=np.int64)[order]

    return History(
        currency=currency,
        labels=labels,
        account_ids=tuple(str(i) for i in ids),
        first_month=first,
        account=col(account),
        month=col(month),
        bucket=col(c.bucket),
        dpd=col(c.dpd),
        balance=col(c.balance),
        paid=col(c.paid),
        opened=col(opened),
    )
