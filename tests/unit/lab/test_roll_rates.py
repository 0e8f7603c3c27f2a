"""Transition matrices, cure and flow rates, vintages and the prediction on small books whose
answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.lab.history import History, read_history
from arrears.lab.roll_rates import (
    PredictionInvalid,
    flow_to_write_off,
    predict,
    transition_matrices,
    vintage_curves,
)

HEAD = "account_id,month,dpd_bucket,balance,paid,opened\n"


def _book(rows: list[tuple[str, str, str, str]], opened: str = "") -> History:
    text = HEAD + "".join(f"{a},{m},{b},{bal},0,{opened}\n" for a, m, b, bal in rows)
    if not opened:
        text = text.replace(",opened", "").replace(",\n", "\n")
    return read_history(text.splitlines(keepends=True), "h.csv", "CNY")


BOOK = [
    ("A", "2024-01", "M0", "100"), ("A", "2024-02", "M1", "110"), ("A", "2024-03", "M2", "120"),
    ("B", "2024-01", "M1", "50"), ("B", "2024-02", "M0", "0"), ("B", "2024-03", "M0", "0"),
    ("C", "2024-01", "M1", "70"), ("C", "2024-02", "M2", "80"), ("C", "2024-03", "M0", "0"),
    ("D", "2024-01", "M0", "10"), ("D", "2024-03", "M1", "10"),  # no February row
]  # fmt: skip


def test_counts_balances_and_rates_of_each_month_pair() -> None:
    jan, feb = transition_matrices(_book(BOOK))
    assert (jan.start, jan.end, feb.start, feb.end) == ("2024-01", "2024-02", "2024-02", "2024-03")
    # January → February: A M0→M1, B M1→M0, C M1→M2; D has no February row
    assert jan.counts[0, 1] == 1 and jan.counts[1, 0] == 1 and jan.counts[1, 2] == 1
    assert jan.counts.sum() == 3
    assert jan.balances[1, 2] == 7000 and jan.balances[0, 1] == 10000  # fen, at January
    assert jan.rates[1, 0] == pytest.approx(0.5) and jan.cure_rates[1] == pytest.approx(0.5)
    assert jan.roll_forward[0] == 1.0 and jan.roll_forward[1] == pytest.approx(0.5)
    assert np.isnan(jan.rates[3]).all()  # nobody in M3: no rate, not zero
    # February → March: A M1→M2, B M0→M0, C M2→M0
    assert feb.counts[1, 2] == 1 and feb.counts[0, 0] == 1 and feb.counts[2, 0] == 1


def test_prediction_pools_the_calibration_months_and_applies_them_to_the_start_counts() -> None:
    matrices = transition_matrices(_book(BOOK))
    p = predict(matrices, calibrate_through="2024-02", target="2024-03")
    # calibration: January → February only. M1 → M0 half, M1 → M2 half; M0 → M1 all.
    # February's starting counts (those also in March): M0 1 (B), M1 1 (A), M2 1 (C)
    assert p.predicted[1, 0] == pytest.approx(0.5) and p.predicted[1, 2] == pytest.approx(0.5)
    assert p.predicted[0, 1] == pytest.approx(1.0)
    assert p.predicted[2, 2] == pytest.approx(1.0)  # M2 never seen: stays in place
    assert p.error[1, 2] == pytest.approx(-0.5)  # observed: A went M1 → M2
    assert p.error[0, 0] == pytest.approx(-1.0) and p.error[2, 0] == pytest.approx(-1.0)
    assert p.mean_absolute_error == pytest.approx(
        (0.5 + 0.5 + 1 + 1 + 1 + 1) / 3  # |errors| summed over the 3 observed accounts
    )


def test_a_prediction_must_be_out_of_sample_and_inside_the_history() -> None:
    matrices = transition_matrices(_book(BOOK))
    with pytest.raises(PredictionInvalid, match="not out of sample"):
        predict(matrices, calibrate_through="2024-03", target="2024-03")
    with pytest.raises(PredictionInvalid, match="2024-05 is not a month"):
        predict(matrices, calibrate_through="2024-02", target="2024-05")
    with pytest.raises(PredictionInvalid, match="no month pair"):
        predict(matrices, calibrate_through="2023-12", target="2024-03")


def test_flow_to_write_off_follows_accounts_that_skip_a_bucket() -> None:
    rows = [(f"X{i}", "2024-01", "M5", "1") for i in range(4)]
    rows += [("X0", "2024-02", "M7+", "1"), ("X1", "2024-02", "M7+", "1")]
    rows += [("X2", "2024-02", "M0", "1"), ("X3", "2024-02", "M5", "1")]
    flow = flow_to_write_off(transition_matrices(_book(rows)), horizon=2)
    # from M5: half jump to M7+ at once; a quarter stays and half of it jumps next month
    assert flow[5] == pytest.approx(0.5 + 0.25 * 0.5)
    assert flow[-1] == 1.0 and flow[0] == 0.0


def test_vintage_curves_need_an_origination_month() -> None:
    assert "no origination month" in vintage_curves(_book(BOOK)).reason
    rows = [("A", "2024-01", "M0", "1"), ("A", "2024-02", "M3", "1"), ("A", "2024-03", "M0", "1")]
    rows += [("B", "2024-01", "M0", "1"), ("B", "2024-02", "M0", "1"), ("B", "2024-03", "M1", "1")]
    curves = vintage_curves(_book(rows, opened="2024-01"), threshold="M3")
    assert curves.vintages == ("2024-01",)
    assert curves.shares[0].tolist() == [0.0, 0.5, 0.5]  # ever M3+: A from month 1 on


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 7), min_size=4, max_size=4), min_size=1, max_size=30))
def test_each_matrix_counts_every_account_present_in_both_months(paths: list[list[int]]) -> None:
    labels = ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"]
    rows = [
        (f"A{i}", f"2024-{m + 1:02d}", labels[b], "1")
        for i, path in enumerate(paths)
        for m, b in enumerate(path)
    ]
    matrices = transition_matrices(_book(rows))
    for m, matrix in enumerate(matrices):
        assert matrix.counts.sum() == len(paths)
        for i, path in enumerate(paths):
            assert matrix.counts[path[m], path[m + 1]] >= 1, i
        rates = matrix.rates[matrix.totals > 0]
        assert np.allclose(rates.sum(axis=1), 1.0)
