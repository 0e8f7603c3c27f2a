"""`arrears lab roll-rates` on the Taiwan book: the matrices, and the Apr–Aug calibrated
prediction of August → September against the observed, checked against a hand computation."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arrears.cli import build
from arrears.lab import taiwan
from tests.integration.lab.test_taiwan_roll_rates import LABELS, _direct_counts

PREDICT = ("--calibrate-through", "2005-08", "--predict", "2005-09")


def _run(tmp_path: Path, *args: str) -> str:
    db = f"sqlite:///{tmp_path / 'unused.db'}"
    result = CliRunner().invoke(build(), ["--database", db, "lab", "roll-rates", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def history(taiwan_raw: Path, tmp_path: Path) -> Path:
    path = tmp_path / "history.csv"
    taiwan.convert(taiwan_raw, path)
    return path


def _hand_prediction(raw: Path) -> dict[tuple[str, str], tuple[float, int]]:
    """Pool April→May … July→August, apply to August's row totals of August→September."""
    months = _direct_counts(raw)
    pooled: Counter[tuple[str, str]] = Counter()
    for pair in months[:4]:
        pooled.update(pair)
    observed = months[4]
    out = {}
    for a in LABELS:
        from_a = sum(pooled[(a, b)] for b in LABELS)
        aug = sum(observed[(a, b)] for b in LABELS)
        for b in LABELS:
            p = pooled[(a, b)] / from_a if from_a else float(a == b)
            out[(a, b)] = (aug * p, observed[(a, b)])
    return out


def test_prediction_printed_per_cell_matches_a_hand_computation(
    taiwan_raw: Path, history: Path, tmp_path: Path
) -> None:
    out = _run(
        tmp_path,
        "--history",
        str(history),
        "--calibrate-through",
        "2005-08",
        "--predict",
        "2005-09",
    )
    assert "calibrated on 2005-04 to 2005-08 (4 month pairs" in out
    assert "predicted 2005-08 → 2005-09 against observed" in out
    printed = {}
    for line in out.splitlines():
        match = re.fullmatch(r"(M\d\+?)→(M\d\+?)\s+([\d.]+)\s+(\d+)\s+([+-][\d.]+)\s+.*", line)
        if match:
            a, b, predicted, observed, error = match.groups()
            printed[(a, b)] = (float(predicted), int(observed), float(error))
    hand = _hand_prediction(taiwan_raw)
    shown = {k: v for k, v in hand.items() if v[0] or v[1]}
    assert set(printed) == set(shown)
    for cell, (predicted, observed) in shown.items():
        assert printed[cell][0] == pytest.approx(predicted, abs=0.051), cell
        assert printed[cell][1] == observed, cell
        assert printed[cell][2] == pytest.approx(predicted - observed, abs=0.051), cell


def test_json_gives_every_month_and_the_prediction(
    taiwan_raw: Path, history: Path, tmp_path: Path
) -> None:
    out = json.loads(_run(tmp_path, "--history", str(history), "--json", *PREDICT))
    direct = _direct_counts(taiwan_raw)
    assert out["currency"] == "TWD" and len(out["matrices"]) == 5
    for matrix, counted in zip(out["matrices"], direct, strict=True):
        assert matrix["counts"] == [[counted[(a, b)] for b in LABELS] for a in LABELS]
    assert out["vintages"]["vintages"] == [] and "no origination month" in out["vintages"]["reason"]
    hand = _hand_prediction(taiwan_raw)
    predicted = out["prediction"]["predicted"]
    for i, a in enumerate(LABELS):
        for j, b in enumerate(LABELS):
            assert predicted[i][j] == pytest.approx(hand[(a, b)][0], abs=0.0006)


def test_text_output_prints_each_month_with_counts_and_rates(history: Path, tmp_path: Path) -> None:
    out = _run(tmp_path, "--history", str(history))
    for start, end in [("2005-04", "2005-05"), ("2005-08", "2005-09")]:
        assert f"{start} → {end}" in out
    assert out.count("rates (share of the row)") == 5
    assert "flow to write-off (M7+) within 12 months" in out
    assert "vintage curves: none" in out


def test_a_bad_history_is_refused_with_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "h.csv"
    bad.write_text("account_id,month,dpd_bucket,balance,paid\nA,2005-4,M0,1,0\n")
    db = f"sqlite:///{tmp_path / 'unused.db'}"
    result = CliRunner().invoke(
        build(), ["--database", db, "lab", "roll-rates", "--history", str(bad), "--currency", "TWD"]
    )
    assert result.exit_code == 2
    assert "h.csv:2 column month: '2005-4' is not a month" in result.output
