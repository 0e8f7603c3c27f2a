"""Scores: a time holdout, honest metrics, a stored model that refuses tampering, reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from arrears.lab import scores
from arrears.lab.history import History, read_history


def _book(accounts: int = 600, months: int = 4, seed: int = 7) -> History:
    """Delinquent accounts that paid this month cure next month nine times in ten; the others
    one time in ten. Payment is a coin flip each month."""
    rng = np.random.default_rng(seed)
    lines = ["account_id,month,dpd_bucket,balance,paid\n"]
    for a in range(accounts):
        bucket = 2
        for m in range(months):
            paid = int(rng.random() < 0.5) * 100
            lines.append(f"A{a},2024-{m + 1:02d},M{bucket},1000,{paid}\n")
            cures = bucket > 0 and rng.random() < (0.9 if paid else 0.1)
            bucket = 0 if cures else 2  # a cured account falls back in the month after
    return read_history(lines, "h.csv", "CNY")


def test_the_holdout_is_the_last_month_and_the_score_learns_the_signal() -> None:
    trained = scores.train(_book(), scores.Score.P_SELF_CURE)
    ev = trained.evaluation
    assert ev.train_months == ("2024-01", "2024-02") and ev.test_month == "2024-03"
    assert ev.model.auc > 0.8 and ev.model.ks > 0.6  # the signal is strong: 0.9 against 0.1
    assert ev.model.brier < 0.2
    assert sum(row["n"] for row in ev.calibration) == ev.model.n
    # calibrated: each decile's mean prediction is near what happened in it
    for row in ev.calibration:
        assert abs(row["predicted"] - row["observed"]) < 0.2, row


def test_reasons_name_the_feature_that_drives_the_score() -> None:
    trained = scores.train(_book(), scores.Score.P_SELF_CURE)
    frame = scores.build_frame(_book(seed=8))
    paid = scores.FEATURES.index("paid")
    x = frame.x[frame.x[:, paid] != trained.medians[paid]][:20]  # rows unlike the typical one
    reasons = trained.reasons(x)
    assert len(x) == 20 and all(len(r) == 3 for r in reasons)
    top = [r[0] for r in reasons]
    assert sum(t.startswith(("paid ", "paid_share_of_balance ")) for t in top) >= 16, top
    for row, first in zip(x, top, strict=True):  # paying raises the chance of curing
        if first.startswith("paid "):
            assert ("+" in first) == (row[paid] > trained.medians[paid]), first


def test_a_stored_model_keeps_its_hash_and_refuses_changed_bytes(tmp_path: Path) -> None:
    trained = scores.train(_book(), scores.Score.P_PAY_30)
    stored = scores.save(trained, tmp_path)
    assert stored.version == f"p_pay_30-{stored.sha256[:12]}"
    again = scores.load(stored.path)
    x = scores.build_frame(_book(seed=9)).x[:50]
    assert np.allclose(again.predict(x), trained.predict(x))
    stored.path.write_bytes(stored.path.read_bytes() + b"\0")
    with pytest.raises(scores.ModelTampered):
        scores.load(stored.path)


def test_too_short_a_history_is_refused() -> None:
    with pytest.raises(scores.ScoreDataInvalid, match="at least three months"):
        scores.train(_book(months=2), scores.Score.P_SELF_CURE)
