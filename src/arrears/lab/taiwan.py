"""The UCI "default of credit card clients" book (Taiwan, April–September 2005; CC BY 4.0) as
a performance history.

Per client and month: the repayment status becomes the bucket — −2 (no consumption), −1 (paid
in full) and 0 (revolving, minimum paid) all mean no delay, M0; n ≥ 1 months late is Mn, and 7
or more months is the last bucket (M7+, 181+ days, the write-off bucket of the default scheme).
The statement balance (BILL_AMT, which is negative for a credit balance: kept as it is) is the
balance and PAY_AMT is `paid`, in TWD. The book has no origination month, so no vintages.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from arrears.domain.delinquency import DEFAULT_BUCKETS

CURRENCY = "TWD"
DEFAULT_PATH = Path("/work/shared/data/taiwan/UCI_Credit_Card.csv")
ENV = "ARREARS_TAIWAN_CSV"

# month → (status column, bill column, payment column); PAY_1 does not exist in the file
MONTHS = {
    "2005-04": ("PAY_6", "BILL_AMT6", "PAY_AMT6"),
    "2005-05": ("PAY_5", "BILL_AMT5", "PAY_AMT5"),
    "2005-06": ("PAY_4", "BILL_AMT4", "PAY_AMT4"),
    "2005-07": ("PAY_3", "BILL_AMT3", "PAY_AMT3"),
    "2005-08": ("PAY_2", "BILL_AMT2", "PAY_AMT2"),
    "2005-09": ("PAY_0", "BILL_AMT1", "PAY_AMT1"),
}
HEADER = ("account_id", "month", "dpd_bucket", "balance", "paid", "currency")
_LABELS = [r.label for r in DEFAULT_BUCKETS.ranges()]


class TaiwanFileInvalid(ValueError):
    pass


def source_path() -> Path:
    """The raw file: $ARREARS_TAIWAN_CSV, else the machine's shared copy."""
    return Path(os.environ.get(ENV, str(DEFAULT_PATH)))


def bucket_of_status(status: int) -> str:
    """−2, −1, 0 → M0; n months late → Mn; the last bucket takes the rest."""
    return _LABELS[min(max(status, 0), len(_LABELS) - 1)]


def _amount(text: str, where: str) -> str:
    try:
        value = Decimal(text)  # some copies write whole dollars as "3913.0"
    except InvalidOperation:
        raise TaiwanFileInvalid(f"{where}: {text!r} is not an amount") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise TaiwanFileInvalid(f"{where}: {text!r} is not whole NT dollars")
    return str(int(value))


def history_rows(source: Path) -> Iterator[tuple[str, ...]]:
    """The history rows of the raw file, client by client, April first."""
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {c for cols in MONTHS.values() for c in cols} - set(reader.fieldnames or ())
        if missing or "ID" not in (reader.fieldnames or ()):
            raise TaiwanFileInvalid(f"{source}: columns missing: {', '.join(sorted(missing))}")
        for row in reader:
            line = reader.line_num
            for month, (status, bill, paid) in MONTHS.items():
                try:
                    bucket = bucket_of_status(int(row[status]))
                except ValueError:
                    raise TaiwanFileInvalid(
                        f"{source}:{line} column {status}: {row[status]!r} is not a status"
                    ) from None
                yield (
                    row["ID"],
                    month,
                    bucket,
                    _amount(row[bill], f"{source}:{line} column {bill}"),
                    _amount(row[paid], f"{source}:{line} column {paid}"),
                    CURRENCY,
                )


def convert(source: Path, target: Path) -> int:
    """Write the history CSV of the raw file; returns the number of rows written. Writes to a
    temporary file first, so a failure leaves no half-written history behind."""
    partial = target.with_name(target.name + ".partial")
    count = 0
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        try:
            for row in history_rows(source):
                writer.writerow(row)
                count += 1
        except TaiwanFileInvalid:
            handle.close()
            partial.unlink()
            raise
    partial.replace(target)
    return count
