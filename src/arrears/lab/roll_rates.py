"""Roll rates from a performance history: bucket-to-bucket transition matrices by month (counts
and balances), cure rates, flow rates to write-off (the last bucket), vintage curves, and the
out-of-sample check (calibrate on earlier months, predict a later month's matrix).

All counting is vectorised over the (accounts × months) grid: one `bincount` per month pair.
Rates are shares (floats); balances stay integers in minor units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from arrears.lab.history import History, month_index, month_label

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class PredictionInvalid(ValueError):
    """The calibration window or the predicted month does not fit the history."""


def _share(num: npt.NDArray[Any], den: npt.NDArray[Any]) -> FloatArray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True)
class MonthMatrix:
    """Accounts in bucket i at `start` and in bucket j at `end` (the next month)."""

    start: str
    end: str
    labels: tuple[str, ...]
    counts: IntArray  # k × k
    balances: IntArray  # k × k, the balance at `start` (minor units) of those accounts

    @property
    def totals(self) -> IntArray:
        return np.asarray(self.counts.sum(axis=1), dtype=np.int64)

    @property
    def rates(self) -> FloatArray:
        """Row-normalised: the share of bucket i's accounts that moved to bucket j."""
        return _share(self.counts, self.totals[:, None])

    @property
    def cure_rates(self) -> FloatArray:
        """Per starting bucket: the share back in the first bucket (M0) a month later."""
        return _share(self.counts[:, 0], self.totals)

    @property
    def roll_forward(self) -> FloatArray:
        """Per starting bucket i < last: the share that moved to bucket i + 1 (by count)."""
        k = len(self.labels)
        idx = np.arange(k - 1)
        return _share(self.counts[idx, idx + 1], self.totals[:-1])

    @property
    def balance_roll_forward(self) -> FloatArray:
        """As `roll_forward`, weighted by balance at the start (positive balances only)."""
        k = len(self.labels)
        idx = np.arange(k - 1)
        pos = np.clip(self.balances, 0, None)
        return _share(pos[idx, idx + 1], pos.sum(axis=1)[:-1])

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "labels": list(self.labels),
            "counts": self.counts.tolist(),
            "rates": json_rates(self.rates),
            "cure_rates": json_rates(self.cure_rates),
            "roll_forward": json_rates(self.roll_forward),
            "balance_roll_forward": json_rates(self.balance_roll_forward),
        }


def json_rates(values: FloatArray) -> Any:
    """A nested list for JSON, None where a rate has no denominator."""
    rounded = np.round(values, 6).astype(object)
    rounded[np.isnan(values)] = None
    return rounded.tolist()


def transition_matrices(history: History) -> list[MonthMatrix]:
    """One matrix per pair of consecutive months; an account counts where it has both rows."""
    k = len(history.labels)
    buckets = history.grid(history.bucket)
    balances = history.grid(history.balance, missing=0)
    months = history.months
    out = []
    for m in range(len(months) - 1):
        a, b = buckets[:, m], buckets[:, m + 1]
        both = (a >= 0) & (b >= 0)
        cell = a[both] * k + b[both]
        counts = np.bincount(cell, minlength=k * k).reshape(k, k)
        money = np.bincount(cell, weights=balances[both, m], minlength=k * k)
        out.append(
            MonthMatrix(
                months[m],
                months[m + 1],
                history.labels,
                counts.astype(np.int64),
                np.rint(money).astype(np.int64).reshape(k, k),
            )
        )
    return out


def pooled_probabilities(matrices: list[MonthMatrix]) -> FloatArray:
    """Transition probabilities pooled over the matrices (sum of counts, row-normalised). A
    starting bucket never observed keeps its accounts in place (1 on the diagonal)."""
    counts = np.sum([m.counts for m in matrices], axis=0)
    probabilities = _share(counts, counts.sum(axis=1)[:, None])
    unseen = counts.sum(axis=1) == 0
    probabilities[unseen] = 0.0
    probabilities[unseen, unseen.nonzero()[0]] = 1.0
    return probabilities


def flow_to_write_off(matrices: list[MonthMatrix], horizon: int = 12) -> FloatArray:
    """Per bucket, the chance of reaching the last bucket within `horizon` months, from the
    pooled monthly probabilities with the last bucket made absorbing. (A chain of one-bucket
    roll-forward rates would miss accounts that skip a bucket, as the Taiwan book's do.)"""
    p = pooled_probabilities(matrices)
    p[-1] = 0.0
    p[-1, -1] = 1.0
    return np.asarray(np.linalg.matrix_power(p, horizon)[:, -1], dtype=np.float64)


@dataclass(frozen=True)
class VintageCurves:
    """Per origination month, the share of its accounts ever in `threshold` or worse by months
    on book; empty (with `reason`) when the history has no origination month."""

    threshold: str
    vintages: tuple[str, ...]
    shares: FloatArray  # vintages × months on book (nan where not yet observed)
    reason: str = ""


def vintage_curves(history: History, threshold: str = "M3") -> VintageCurves:
    if not history.has_vintage:
        reason = (
            "the history has no origination month (column `opened`), so there are no vintage "
            "curves; the Taiwan book is one such history"
        )
        return VintageCurves(threshold, (), np.zeros((0, 0)), reason)
    level = history.labels.index(threshold)
    on_book = history.month - history.opened
    keep = on_book >= 0
    bad = history.grid(np.where(keep, (history.bucket >= level).astype(np.int64), -1))
    ever = np.maximum.accumulate(np.where(bad < 0, 0, bad), axis=1)
    opened_of = np.full(len(history.account_ids), 0, dtype=np.int64)
    opened_of[history.account] = history.opened
    codes = np.unique(opened_of)
    width = int(on_book.max()) + 1
    shares = np.full((len(codes), width), np.nan)
    observed = bad >= 0
    for v, code in enumerate(codes):
        rows = opened_of == code
        for mob in range(width):
            col = int(code) + mob
            if 0 <= col < ever.shape[1] and observed[rows, col].any():
                seen = observed[rows, col]
                shares[v, mob] = ever[rows, col][seen].mean()
    labels = tuple(month_label(history.first_month + int(c)) for c in codes)
    return VintageCurves(threshold, labels, shares)


@dataclass(frozen=True)
class Prediction:
    """The matrix of `observed.start → observed.end` predicted from the pooled transition
    probabilities of the calibration months, applied to the observed starting bucket counts."""

    calibration: tuple[str, ...]  # the months of the calibration window, first to last
    probabilities: FloatArray  # k × k pooled over the calibration matrices
    predicted: FloatArray  # k × k expected counts
    observed: MonthMatrix

    @property
    def error(self) -> FloatArray:
        """predicted − observed, per cell, in accounts."""
        return self.predicted - self.observed.counts

    @property
    def rate_error(self) -> FloatArray:
        """predicted − observed transition probability, per cell."""
        return _share(self.predicted, self.observed.totals[:, None]) - self.observed.rates

    @property
    def mean_absolute_error(self) -> float:
        return float(np.abs(self.error).sum() / max(int(self.observed.counts.sum()), 1))

    def as_dict(self) -> dict[str, Any]:
        return {
            "calibration": list(self.calibration),
            "start": self.observed.start,
            "end": self.observed.end,
            "labels": list(self.observed.labels),
            "probabilities": json_rates(self.probabilities),
            "predicted": np.round(self.predicted, 3).tolist(),
            "observed": self.observed.counts.tolist(),
            "error": np.round(self.error, 3).tolist(),
            "rate_error": json_rates(self.rate_error),
        }


def predict(
    matrices: list[MonthMatrix], calibrate_through: str, target: str, calibrate_from: str = ""
) -> Prediction:
    """Pool the matrices whose months lie in [calibrate_from, calibrate_through] (from the
    first month when not given); predict the matrix ending in `target`. A starting bucket with
    no calibration data keeps its accounts in place (probability 1 on the diagonal)."""
    through = month_index(calibrate_through)
    start = month_index(calibrate_from) if calibrate_from else -1
    window = [
        m for m in matrices if month_index(m.start) >= start and month_index(m.end) <= through
    ]
    ends = {m.end: m for m in matrices}
    if not window:
        raise PredictionInvalid(f"no month pair of the history ends by {calibrate_through}")
    if target not in ends:
        raise PredictionInvalid(
            f"{target} is not a month the history moves into; it has {', '.join(ends)}"
        )
    observed = ends[target]
    if month_index(observed.start) < through:
        raise PredictionInvalid(
            f"predicting {target} from months through {calibrate_through} is not out of sample"
        )
    probabilities = pooled_probabilities(window)
    predicted = observed.totals[:, None] * probabilities
    months = (window[0].start, *(m.end for m in window))
    return Prediction(months, probabilities, predicted, observed)
