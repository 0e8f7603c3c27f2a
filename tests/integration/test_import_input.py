"""Hostile cells in host extracts: numbers that are not plain decimals, amounts beyond the
bound of their currency, NUL and other control characters. Each is a clear problem naming the
file, line and column, and nothing is written (both databases)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from arrears.privacy.keyring import KeyRing
from tests.integration.test_import import counts, edit, extracts, rejected

NOT_PLAIN = "is not a plain decimal amount"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1e30", NOT_PLAIN),
        ("1E3", NOT_PLAIN),
        ("+5", NOT_PLAIN),
        ("1_0", NOT_PLAIN),
        ("１２３", NOT_PLAIN),  # full-width digits
        ("٣", NOT_PLAIN),  # Arabic-Indic digit
        ("1,000.00", NOT_PLAIN),
        ("NaN", NOT_PLAIN),
        ("Infinity", NOT_PLAIN),
        (" .5", NOT_PLAIN),
        ("-5", "is negative"),
        ("999999999999999.99", "above the largest amount accepted in CNY, 1000000000.00"),
        ("1000000000.01", "above the largest amount accepted in CNY, 1000000000.00"),
        ("9" * 40, "above the largest amount accepted in CNY"),
    ],
)
def test_a_payment_amount_is_a_plain_bounded_decimal(
    db: Engine, keyring: KeyRing, tmp_path: Path, amount: str, message: str
) -> None:
    files = {"payments": edit("payments", "P3,A3,100.00,", f'P3,A3,"{amount}",')}
    problems = rejected(db, keyring, extracts(tmp_path, **files))
    assert len(problems) == 1, problems
    assert problems[0].startswith("payments.csv:4: amount: "), problems
    assert message in problems[0]
    assert set(counts(db).values()) == {0}


def test_the_largest_amount_is_accepted(db: Engine, keyring: KeyRing, tmp_path: Path) -> None:
    from arrears.services.importing import import_directory

    files = {"payments": edit("payments", "P3,A3,100.00,", "P3,A3,1000000000.00,")}
    report = import_directory(db, keyring, extracts(tmp_path, **files))
    assert report.files["payments.csv"].inserted == 3


@pytest.mark.parametrize("rate", ["1e-1", "+0.1", "０.１", "0_1", "NaN"])
def test_a_rate_is_a_plain_decimal(db: Engine, keyring: KeyRing, tmp_path: Path, rate: str) -> None:
    files = {"accounts": edit("accounts", "0.2399,0", f"{rate},0")}
    problems = rejected(db, keyring, extracts(tmp_path, **files))
    assert len(problems) == 1, problems
    assert problems[0].startswith("accounts.csv:3: annual_rate: ")
    assert "is not a plain decimal rate" in problems[0]


@pytest.mark.parametrize(
    ("file", "old", "new", "where"),
    [
        ("borrowers", "B2,John Smith", "B2,John\x00Smith", "borrowers.csv:3: name: "),
        ("borrowers", ",en,,", ",en,west\x00,", "borrowers.csv:3: region: "),
        ("borrowers", "john.smith@", "john\x00smith@", "borrowers.csv:3: email: "),
        ("accounts", "A2,B2", "A2\x00,B2", "accounts.csv:3: account_id: "),
        ("payments", "P3,A3,100.00,CNY", "P3,A3,100.00,CN\x00", "payments.csv:4: currency: "),
        ("contacts", "C2,B1,赵敏", "C2,B1,赵\x00敏", "contacts.csv:3: name: "),
    ],
)
def test_a_nul_byte_in_any_cell_is_a_problem_not_a_crash(
    db: Engine, keyring: KeyRing, tmp_path: Path, file: str, old: str, new: str, where: str
) -> None:
    problems = rejected(db, keyring, extracts(tmp_path, **{file: edit(file, old, new)}))
    assert [p for p in problems if p.startswith(where)], problems


def test_a_control_character_in_a_name_is_a_problem(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    files = {"borrowers": edit("borrowers", "B2,John Smith", "B2,John\x1bSmith")}
    problems = rejected(db, keyring, extracts(tmp_path, **files))
    assert problems == [
        "borrowers.csv:3: name: holds the control character U+001B at position 5; remove it "
        "(export the extract as plain text)"
    ]


# -- streaming: an extract is read, validated and written a batch at a time ---------------------


def _payments(n: int, *, dup: tuple[int, int] | None = None, bad: int | None = None) -> str:
    lines = ["payment_id,account_id,amount,currency,received_on"]
    for i in range(n):
        pid = f"Q{dup[0]}" if dup and i == dup[1] else f"Q{i}"
        amount = "1.2.3" if i == bad else f"{i + 1}.00"
        lines.append(f"{pid},A1,{amount},CNY,2026-01-20")
    return "\n".join(lines) + "\n"


def test_batches_add_up_to_the_whole_file(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arrears.services import importing

    monkeypatch.setattr(importing, "BATCH", 4)
    report = importing.import_directory(db, keyring, extracts(tmp_path, payments=_payments(11)))
    assert report.files["payments.csv"] == importing.FileCounts(inserted=11)
    assert counts(db)["payments"] == 11
    again = importing.import_directory(db, keyring, tmp_path / "extracts")
    assert again.files["payments.csv"] == importing.FileCounts(skipped=11)


def test_a_duplicate_in_another_batch_is_found(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arrears.services import importing

    monkeypatch.setattr(importing, "BATCH", 4)
    # Q1 (line 3, first batch) again on line 12 (third batch)
    problems = rejected(db, keyring, extracts(tmp_path, payments=_payments(11, dup=(1, 10))))
    assert problems == ["payments.csv:12: payment_id: Q1 also appears on line 3; one row per id"]
    assert set(counts(db).values()) == {0}


def test_a_bad_row_in_a_late_batch_leaves_nothing_written(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arrears.services import importing

    monkeypatch.setattr(importing, "BATCH", 4)
    problems = rejected(db, keyring, extracts(tmp_path, payments=_payments(11, bad=9)))
    assert problems == [
        "payments.csv:11: amount: '1.2.3' is not a plain decimal amount; write digits with an "
        "optional decimal point, e.g. 1234.50 (no sign, exponent or separators)"
    ]
    assert set(counts(db).values()) == {0}


def test_a_nul_byte_is_named_by_line_and_column(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    files = {"accounts": edit("accounts", "A2,B2", "A2\x00,B2")}
    problems = rejected(db, keyring, extracts(tmp_path, **files))
    nul = "holds a NUL character (U+0000); remove it (export the extract as plain text)"
    assert f"accounts.csv:3: account_id: {nul}" in problems


def test_many_problems_are_counted_beyond_those_listed(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arrears.services import importing
    from arrears.services.importing import ImportRejected, import_directory

    monkeypatch.setattr(importing, "MAX_PROBLEMS", 5)
    text = _payments(12).replace(",A1,", ",NOPE,")
    with pytest.raises(ImportRejected) as exc:
        import_directory(db, keyring, extracts(tmp_path, payments=text))
    assert len(exc.value.problems) == 5 and exc.value.omitted == 7
    assert "12 problem(s) (and 7 more not listed)" in str(exc.value)
    assert set(counts(db).values()) == {0}
