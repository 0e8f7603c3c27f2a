"""The roll rates of the Taiwan book equal a direct count of the raw file, month by month."""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np

from arrears.lab import taiwan
from arrears.lab.history import load_history
from arrears.lab.roll_rates import transition_matrices

# the raw file's status columns, April to September, counted here without the converter
STATUS = ["PAY_6", "PAY_5", "PAY_4", "PAY_3", "PAY_2", "PAY_0"]
LABELS = ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"]


def _label(status: str) -> str:
    n = int(status)
    return "M0" if n <= 0 else ("M7+" if n >= 7 else f"M{n}")


def _direct_counts(raw: Path) -> list[Counter[tuple[str, str]]]:
    pairs: list[Counter[tuple[str, str]]] = [Counter() for _ in range(5)]
    with raw.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for m in range(5):
                pairs[m][(_label(row[STATUS[m]]), _label(row[STATUS[m + 1]]))] += 1
    return pairs


def test_each_months_transition_counts_equal_a_direct_count(
    taiwan_raw: Path, tmp_path: Path
) -> None:
    converted = tmp_path / "history.csv"
    rows = taiwan.convert(taiwan_raw, converted)
    history = load_history(converted)
    matrices = transition_matrices(history)
    expected = _direct_counts(taiwan_raw)
    clients = sum(expected[0].values())
    assert rows == 6 * clients
    assert [(m.start, m.end) for m in matrices] == [
        ("2005-04", "2005-05"), ("2005-05", "2005-06"), ("2005-06", "2005-07"),
        ("2005-07", "2005-08"), ("2005-08", "2005-09"),
    ]  # fmt: skip
    for matrix, direct in zip(matrices, expected, strict=True):
        assert matrix.labels == tuple(LABELS)
        for i, a in enumerate(LABELS):
            for j, b in enumerate(LABELS):
                assert matrix.counts[i, j] == direct[(a, b)], (matrix.start, a, b)
        assert matrix.counts.sum() == clients


def test_balances_and_payments_are_kept_exactly_in_twd(taiwan_subset: Path, tmp_path: Path) -> None:
    converted = tmp_path / "history.csv"
    taiwan.convert(taiwan_subset, converted)
    history = load_history(converted)
    with taiwan_subset.open(newline="") as handle:
        raw = list(csv.DictReader(handle))
    bills = sum(Decimal(r["BILL_AMT2"]) for r in raw)  # August
    paid = sum(Decimal(r["PAY_AMT1"]) for r in raw)  # September
    august = history.month == history.month_code("2005-08")
    september = history.month == history.month_code("2005-09")
    assert history.currency == "TWD"
    assert int(history.balance[august].sum()) == bills * 100  # minor units: cents
    assert int(history.paid[september].sum()) == paid * 100
    assert (history.balance < 0).any()  # credit balances are kept, not clipped


def test_the_balance_matrix_sums_the_starting_balances(taiwan_subset: Path, tmp_path: Path) -> None:
    converted = tmp_path / "history.csv"
    taiwan.convert(taiwan_subset, converted)
    history = load_history(converted)
    april = transition_matrices(history)[0]
    with taiwan_subset.open(newline="") as handle:
        by_cell: Counter[tuple[str, str]] = Counter()
        for r in csv.DictReader(handle):
            by_cell[(_label(r["PAY_6"]), _label(r["PAY_5"]))] += int(Decimal(r["BILL_AMT6"]) * 100)
    got = {(LABELS[i], LABELS[j]): int(april.balances[i, j]) for i, j in np.ndindex(8, 8)}
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in by_cell.items() if v}


def test_a_bad_status_in_the_raw_file_writes_no_history(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    header = "ID,PAY_0,PAY_2,PAY_3,PAY_4,PAY_5,PAY_6," + ",".join(
        [f"BILL_AMT{i}" for i in range(1, 7)] + [f"PAY_AMT{i}" for i in range(1, 7)]
    )
    raw.write_text(header + "\n1,0,0,0,0,0,x" + ",0" * 12 + "\n")
    target = tmp_path / "history.csv"
    try:
        taiwan.convert(raw, target)
    except taiwan.TaiwanFileInvalid as exc:
        assert "PAY_6" in str(exc) and ":2" in str(exc)
    else:
        raise AssertionError("a status 'x' was accepted")
    assert not target.exists() and not list(tmp_path.glob("*.partial"))
