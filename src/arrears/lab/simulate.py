"""What the simulator is fitted to: the history's monthly roll, cure and payment rates by segment
(balance band × bucket), and the out-of-sample check of that fit.

The segment of an account-month is its balance band at the start of the month; the same bands
are `balance` conditions in a strategy, so an optimised strategy can name them. Rates are shares
(floats); amounts stay integers in minor units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from arrears.domain.money import minor_units
from arrears.lab.history import History, month_index

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# balance bands in whole currency units: low < 10,000 <= mid < 50,000 <= high (NT$ for Taiwan)
BAND_EDGES = (10_000, 50_000)
SEGMENTS = ("low", "mid", "high")
MIN_ROW = 30  # fewer account-months in a segment's row: use the row pooled over segments


class CalibrationInvalid(ValueError):
    """The calibration window does not fit the history, or holds no delinquency to fit."""


def band_of(balance_minor: IntArray, currency: str) -> IntArray:
    unit = 10 ** minor_units(currency)
    edges = np.array([e * unit for e in BAND_EDGES], dtype=np.int64)
    return np.searchsorted(edges, balance_minor, side="right").astype(np.int64)


@dataclass(frozen=True)
class Fit:
    """Counts of account-months by segment s, bucket i at the start, bucket j a month later;
    what was paid in the next month, by outcome; and the accounts that entered delinquency."""

    currency: str
    labels: tuple[str, ...]
    window: tuple[str, str]  # the first and last month of the calibration window
    counts: IntArray  # S × k × k
    paid_cure: FloatArray  # S × k: paid next month / balance, accounts that cured (M0)
    paid_stay: FloatArray  # S × k: the same for accounts still delinquent
    entry_segment: IntArray  # per account-month entering delinquency (M0 → Mi, i >= 1)
    entry_bucket: IntArray
    entry_balance: IntArray  # minor units, at the month it entered

    def probabilities(self) -> FloatArray:
        """S × k × k transition probabilities; a thin row (< MIN_ROW) borrows the pooled one."""
        pooled = self.counts.sum(axis=0)
        out = np.zeros(self.counts.shape)
        for s in range(len(SEGMENTS)):
            for i in range(len(self.labels)):
                row = self.counts[s, i] if self.counts[s, i].sum() >= MIN_ROW else pooled[i]
                total = row.sum()
                out[s, i] = row / total if total else np.eye(len(self.labels))[i]
        return out

    def cure(self) -> FloatArray:
        return self.probabilities()[:, :, 0]

    def rows(self) -> IntArray:
        return self.counts.sum(axis=2)


def fit(history: History, through: str | None = None, start: str | None = None) -> Fit:
    """Fit on the month pairs whose both months lie in [start, through] (all by default)."""
    months = history.months
    first = history.month_code(start) if start else 0
    last = history.month_code(through) if through else len(months) - 1
    if last - first < 1:
        raise CalibrationInvalid(f"calibrating on {start or months[0]}..{through} needs two months")
    k, s_n = len(history.labels), len(SEGMENTS)
    buckets = history.grid(history.bucket)
    balances = history.grid(history.balance, missing=0)
    paid = history.grid(history.paid, missing=0)
    counts = np.zeros((s_n, k, k), dtype=np.int64)
    sums = np.zeros((2, s_n, k, 2))  # cured?, segment, bucket, (paid, balance)
    entries: list[tuple[IntArray, IntArray, IntArray]] = []
    for m in range(first, last):
        a, b = buckets[:, m], buckets[:, m + 1]
        both = (a >= 0) & (b >= 0)
        seg = band_of(balances[both, m], history.currency)
        counts += np.bincount(
            (seg * k + a[both]) * k + b[both], minlength=s_n * k * k
        ).reshape(s_n, k, k)
        bal = np.clip(balances[both, m], 0, None).astype(np.float64)
        pay = np.clip(paid[both, m + 1], 0, None).astype(np.float64)
        pay = np.minimum(pay, bal)  # a payment beyond the balance is new spending repaid
        cured = (b[both] == 0).astype(np.int64)
        for c in (0, 1):
            sel = (cured == c) & (a[both] > 0)
            cell = seg[sel] * k + a[both][sel]
            sums[c, :, :, 0] += np.bincount(cell, pay[sel], s_n * k).reshape(s_n, k)
            sums[c, :, :, 1] += np.bincount(cell, bal[sel], s_n * k).reshape(s_n, k)
        entering = (a[both] == 0) & (b[both] > 0)
        bal_next = balances[both, m + 1][entering]
        entries.append(
            (band_of(bal_next, history.currency), b[both][entering], np.clip(bal_next, 0, None))
        )
    if not counts[:, 1:].sum():
        raise CalibrationInvalid("the calibration months hold no delinquent account to fit")
    seg_e, bucket_e, bal_e = (np.concatenate(x) for x in zip(*entries, strict=True))
    return Fit(
        history.currency,
        history.labels,
        (months[first], months[last]),
        counts,
        _ratio(sums[1]),
        _ratio(sums[0]),
        seg_e.astype(np.int64),
        bucket_e.astype(np.int64),
        bal_e.astype(np.int64),
    )


def _ratio(cells: FloatArray) -> FloatArray:
    paid, bal = cells[..., 0], cells[..., 1]
    pooled = paid.sum(axis=0) / np.maximum(bal.sum(axis=0), 1.0)
    out = np.where(bal > 0, paid / np.maximum(bal, 1.0), pooled[None, :])
    return np.clip(out, 0.0, 1.0)


@dataclass(frozen=True)
class Check:
    """The month after the calibration window predicted from the fit, segment by segment,
    against what the history shows."""

    fit: Fit
    start: str
    end: str
    predicted: FloatArray  # k × k expected counts
    observed: IntArray  # k × k

    def rate(self, counts: FloatArray | IntArray) -> FloatArray:
        totals = self.observed.sum(axis=1, keepdims=True).astype(np.float64)
        return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)

    def error_pp(self) -> FloatArray:
        """predicted − observed transition probability, per cell, in percentage points."""
        return 100 * (self.rate(self.predicted) - self.rate(self.observed))

    def mean_abs_error_pp(self) -> float:
        """Mean absolute error over the cells of observed rows, weighted by row size."""
        totals = self.observed.sum(axis=1)
        per_row = np.abs(self.error_pp()).sum(axis=1) / 2
        return float((per_row * totals).sum() / max(int(totals.sum()), 1))


def check(history: History, through: str, target: str) -> Check:
    """Fit on the months up to `through`; predict the pair (target − 1 month → target) from the
    segment counts at its start; compare with the observed pair."""
    if month_index(target) <= month_index(through):
        raise CalibrationInvalid(f"{target} is inside the calibration window (through {through})")
    fitted = fit(history, through)
    t = history.month_code(target)
    k = len(history.labels)
    buckets = history.grid(history.bucket)
    balances = history.grid(history.balance, missing=0)
    a, b = buckets[:, t - 1], buckets[:, t]
    both = (a >= 0) & (b >= 0)
    seg = band_of(balances[both, t - 1], history.currency)
    start = np.bincount(seg * k + a[both], minlength=len(SEGMENTS) * k).reshape(-1, k)
    predicted = np.einsum("si,sij->ij", start, fitted.probabilities())
    observed = np.bincount(a[both] * k + b[both], minlength=k * k).reshape(k, k)
    return Check(fitted, history.months[t - 1], target, predicted, observed.astype(np.int64))


def render_check(c: Check, rows: int | None = None) -> str:
    """Predicted against observed, each cell: predicted % / observed % / error in pp; rows
    with no accounts are left out."""
    labels = c.fit.labels
    head = f"calibrated on {c.fit.window[0]}..{c.fit.window[1]}; predicted {c.start} -> {c.end}"
    lines = [head, "from   n      " + "  ".join(f"{lab:>17}" for lab in labels)]
    pred, obs, err = 100 * c.rate(c.predicted), 100 * c.rate(c.observed), c.error_pp()
    totals = c.observed.sum(axis=1)
    for i, lab in enumerate(labels[: rows or len(labels)]):
        if not totals[i]:
            continue
        cells = "  ".join(
            f"{pred[i, j]:5.1f}/{obs[i, j]:5.1f}/{err[i, j]:+5.1f}" for j in range(len(labels))
        )
        lines.append(f"{lab:<5} {totals[i]:>6}  {cells}")
    lines.append(
        "cells: predicted % / observed % / error (pp); "
        f"mean absolute error {c.mean_abs_error_pp():.1f} pp of a row"
    )
    return "\n".join(lines)
