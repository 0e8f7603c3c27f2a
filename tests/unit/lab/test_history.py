"""Loading a performance history: every bad cell is named (file, line, column), nothing loads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.lab.history import HistoryInvalid, read_history


def _load(text: str, currency: str | None = "TWD"):  # type: ignore[no-untyped-def]
    return read_history(text.splitlines(keepends=True), "h.csv", currency)


def _problems(text: str, currency: str | None = "TWD") -> list[str]:
    with pytest.raises(HistoryInvalid) as info:
        _load(text, currency)
    return [str(p) for p in info.value.problems]


def test_a_good_file_loads_sorted_with_exact_minor_units() -> None:
    h = _load(
        "account_id,month,days_past_due,balance,paid\n"
        "B,2005-05,0,-12.50,0\n"
        "A,2005-05,45,100.25,3\n"
        "A,2005-04,10,90,0.01\n"
    )
    assert h.account_ids == ("A", "B")
    assert h.months == ("2005-04", "2005-05")
    assert h.account.tolist() == [0, 0, 1]
    assert [h.labels[b] for b in h.bucket] == ["M1", "M2", "M0"]
    assert h.balance.tolist() == [9000, 10025, -1250]
    assert h.paid.tolist() == [1, 300, 0]
    assert h.dpd.tolist() == [10, 45, 0]


def test_every_bad_cell_is_reported_with_file_line_and_column() -> None:
    problems = _problems(
        "account_id,month,dpd_bucket,days_past_due,balance,paid\n"
        "A,2005-13,M0,0,1,0\n"
        "A,2005-04,M3,10,1,0\n"
        "B C,2005-04,M9,,1.234,-3\n"
        "A,2005-04,M1,,1,0\n"
        "D,2005-04,,,1,0\n"
        "E,2005-04,M0,0,1\n"
    )
    assert problems == [
        "h.csv:2 column month: '2005-13' is not a month; write YYYY-MM, e.g. 2005-04",
        "h.csv:3 column dpd_bucket: M3 disagrees with days_past_due 10",
        "h.csv:4 column account_id: 'B C' is not an id (1-64 letters, digits, . _ : / -)",
        "h.csv:4 column dpd_bucket: 'M9' is not a bucket; use M0, M1, M2, M3, M4, M5, M6, M7+",
        "h.csv:4 column balance: '1.234' has more decimals than TWD allows",
        "h.csv:4 column paid: '-3' is not an amount (digits, optional decimal point)",
        "h.csv:5 column month: account A already has 2005-04 (line 3)",
        "h.csv:6 column dpd_bucket: blank: give dpd_bucket or days_past_due",
        "h.csv:7: 5 fields where the header has 6",
    ]


def test_the_header_is_checked_before_any_row() -> None:
    problems = _problems("acount_id,month,balance\nA,2005-04,1\n", currency=None)
    assert "h.csv:1 column acount_id: unknown column" in problems[0]
    assert any("column account_id: required column missing" in p for p in problems)
    assert any("column paid: required column missing" in p for p in problems)
    assert any("give dpd_bucket or days_past_due" in p for p in problems)
    assert any("no currency column and no currency given" in p for p in problems)


def test_one_currency_per_history() -> None:
    problems = _problems(
        "account_id,month,dpd_bucket,balance,paid,currency\n"
        "A,2005-04,M0,1,0,TWD\nB,2005-04,M0,1,0,CNY\nC,2005-04,M0,1,0,XXY\n",
        currency=None,
    )
    assert problems[0] == "h.csv:3 column currency: CNY differs from TWD; one currency per history"
    assert problems[1].startswith("h.csv:4 column currency: unknown currency 'XXY'")


def test_an_empty_file_is_an_error() -> None:
    assert "empty file" in _problems("")[0]
    assert "no rows" in _problems("account_id,month,dpd_bucket,balance,paid\n")[0]


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.sampled_from("ABCDEFG"), st.integers(0, 7)),
        st.tuples(st.integers(0, 400), st.integers(-(10**9), 10**9), st.integers(0, 10**7)),
        min_size=1,
    )
)
def test_every_row_loads_exactly_once_with_its_values(
    rows: dict[tuple[str, int], tuple[int, int, int]],
) -> None:
    text = "account_id,month,days_past_due,balance,paid\n" + "".join(
        f"{a},2024-{m + 1:02d},{d},{b / 100:.2f},{p / 100:.2f}\n"
        for (a, m), (d, b, p) in rows.items()
    )
    h = _load(text)
    got = {
        (h.account_ids[a], h.first_month % 12 + mo): (d, b, p)
        for a, mo, d, b, p in zip(h.account, h.month, h.dpd, h.balance, h.paid, strict=True)
    }
    assert got == rows
