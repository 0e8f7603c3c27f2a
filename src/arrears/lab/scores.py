"""Scores trained on a performance history: `p_pay_30` (a payment within the next month) and
`p_self_cure` (back to M0 the next month), for accounts delinquent at the month scored.

Features come from the (accounts × months) grid, vectorised: the bucket now and one and two
months back, the worst bucket and the delinquent months of the last three, the balance, its
change, and what was paid. The model is scikit-learn's HistGradientBoostingClassifier,
calibrated (isotonic, 3-fold); the holdout is the last month that has an outcome (train on the
earlier months). A logistic regression on the same features is the baseline.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from arrears.lab.history import History

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FEATURES = (
    "bucket",
    "bucket_1m_ago",
    "bucket_2m_ago",
    "worst_bucket_3m",
    "delinquent_months_3m",
    "balance",
    "balance_change",
    "paid",
    "paid_1m_ago",
    "paid_share_of_balance",
)


class Score(StrEnum):
    P_PAY_30 = "p_pay_30"
    P_SELF_CURE = "p_self_cure"


class ScoreDataInvalid(ValueError):
    """The history cannot train a score (too few months, or one outcome only)."""


@dataclass(frozen=True)
class Frame:
    """One row per (account, month) delinquent at that month with a next month to learn from."""

    account: IntArray
    month: IntArray
    x: FloatArray
    outcomes: dict[Score, IntArray]


def _lag(grid: IntArray, k: int, fill: int) -> IntArray:
    out = np.full_like(grid, fill)
    out[:, k:] = grid[:, :-k] if k else grid
    return out


def feature_grid(history: History) -> FloatArray:
    """(accounts × months × features). Money enters as minor units cast to float: model
    inputs, never amounts anyone is charged or shown."""
    bucket = history.grid(history.bucket)
    balance = history.grid(history.balance, missing=0).astype(np.float64)
    paid = history.grid(history.paid, missing=0).astype(np.float64)
    b1, b2 = _lag(bucket, 1, -1), _lag(bucket, 2, -1)
    worst = np.maximum(bucket, np.maximum(b1, b2))
    delinquent = (bucket > 0).astype(int) + (b1 > 0) + (b2 > 0)
    bal1 = np.zeros_like(balance)
    bal1[:, 1:] = balance[:, :-1]
    paid1 = np.zeros_like(paid)
    paid1[:, 1:] = paid[:, :-1]
    share = np.divide(paid, np.abs(bal1), out=np.zeros_like(paid), where=np.abs(bal1) > 0)
    parts = [bucket, b1, b2, worst, delinquent, balance, balance - bal1, paid, paid1, share]
    return np.stack([np.asarray(p, dtype=np.float64) for p in parts], axis=2)


def build_frame(history: History) -> Frame:
    bucket = history.grid(history.bucket)
    paid = history.grid(history.paid, missing=-1)
    grid = feature_grid(history)
    now, nxt = bucket[:, :-1], bucket[:, 1:]
    rows = (now > 0) & (nxt >= 0)
    account, month = np.nonzero(rows)
    outcomes = {
        Score.P_PAY_30: (paid[:, 1:][rows] > 0).astype(np.int64),
        Score.P_SELF_CURE: (nxt[rows] == 0).astype(np.int64),
    }
    return Frame(account, month, grid[account, month], outcomes)


def ks_statistic(y: IntArray, p: FloatArray) -> float:
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def calibration_table(y: IntArray, p: FloatArray, bins: int = 10) -> list[dict[str, float]]:
    """Deciles of the predicted probability: count, mean predicted, observed rate."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    table = []
    for b in range(len(edges) - 1):
        mask = which == b
        if mask.any():
            table.append(
                {
                    "low": round(float(edges[b]), 4),
                    "high": round(float(edges[b + 1]), 4),
                    "n": int(mask.sum()),
                    "predicted": round(float(p[mask].mean()), 4),
                    "observed": round(float(y[mask].mean()), 4),
                }
            )
    return table


@dataclass(frozen=True)
class Metrics:
    auc: float
    ks: float
    brier: float
    n: int
    positive_rate: float

    @classmethod
    def of(cls, y: IntArray, p: FloatArray) -> Metrics:
        return cls(
            auc=float(roc_auc_score(y, p)),
            ks=ks_statistic(y, p),
            brier=float(brier_score_loss(y, p)),
            n=len(y),
            positive_rate=float(y.mean()),
        )


@dataclass(frozen=True)
class Evaluation:
    score: Score
    train_months: tuple[str, ...]
    test_month: str  # the month scored in the holdout; its outcome is the month after
    model: Metrics
    baseline: Metrics
    calibration: list[dict[str, float]]


@dataclass
class TrainedScore:
    score: Score
    model: Any  # the calibrated classifier
    medians: FloatArray  # per feature, for the reasons
    evaluation: Evaluation

    def predict(self, x: FloatArray) -> FloatArray:
        return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)

    def reasons(self, x: FloatArray, top: int = 3) -> list[list[str]]:
        """Per row, the features that move its score most from a typical account's: each
        feature in turn set to the training median, the change in the score, largest first."""
        base = self.predict(x)
        effects = np.empty_like(x)
        for f in range(x.shape[1]):
            typical = x.copy()
            typical[:, f] = self.medians[f]
            effects[:, f] = base - self.predict(typical)
        order = np.argsort(-np.abs(effects), axis=1)[:, :top]
        return [
            [f"{FEATURES[f]} {'+' if effects[r, f] >= 0 else '−'}{abs(effects[r, f]):.2f}"
             for f in order[r]]
            for r in range(len(x))
        ]  # fmt: skip


def _gbm() -> CalibratedClassifierCV:
    trees = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=0)
    return CalibratedClassifierCV(trees, method="isotonic", cv=3)


def _baseline() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def train(history: History, score: Score, model: Callable[[], Any] = _gbm) -> TrainedScore:
    """Train on every month but the last with an outcome and evaluate on that last one; the
    model returned is the one evaluated, so its figures describe exactly what is stored."""
    frame = build_frame(history)
    months = np.unique(frame.month)
    if len(months) < 2:
        raise ScoreDataInvalid(
            f"the history ({history.span()}) needs at least three months to train on earlier "
            "months and test on a later one"
        )
    y = frame.outcomes[score]
    test = frame.month == months[-1]
    if len(np.unique(y[~test])) < 2 or len(np.unique(y[test])) < 2:
        raise ScoreDataInvalid(f"{score}: the outcome takes one value only; nothing to learn")
    fitted = model().fit(frame.x[~test], y[~test])
    p = np.asarray(fitted.predict_proba(frame.x[test])[:, 1], dtype=np.float64)
    base = _baseline().fit(frame.x[~test], y[~test])
    pb = np.asarray(base.predict_proba(frame.x[test])[:, 1], dtype=np.float64)
    labels = history.months
    evaluation = Evaluation(
        score=score,
        train_months=tuple(labels[m] for m in months[:-1]),
        test_month=labels[int(months[-1])],
        model=Metrics.of(y[test], p),
        baseline=Metrics.of(y[test], pb),
        calibration=calibration_table(y[test], p),
    )
    return TrainedScore(score, fitted, np.median(frame.x[~test], axis=0), evaluation)


@dataclass(frozen=True)
class StoredModel:
    path: Path
    sha256: str
    version: str


def save(trained: TrainedScore, directory: Path) -> StoredModel:
    """Write the model and its card (metrics, features, hash); the version is the hash's head,
    so the same model saved twice is one version."""
    buffer = io.BytesIO()
    pickle.dump(trained, buffer)
    blob = buffer.getvalue()
    digest = hashlib.sha256(blob).hexdigest()
    version = f"{trained.score}-{digest[:12]}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{version}.pkl"
    path.write_bytes(blob)
    card = {
        "score": str(trained.score),
        "version": version,
        "sha256": digest,
        "features": list(FEATURES),
        "evaluation": asdict(trained.evaluation),
    }
    (directory / f"{version}.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    return StoredModel(path, digest, version)


class ModelTampered(ValueError):
    pass


def load(path: Path) -> TrainedScore:
    """Read a stored model, refusing one whose bytes no longer match its card's hash."""
    blob = path.read_bytes()
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    if hashlib.sha256(blob).hexdigest() != card["sha256"]:
        raise ModelTampered(f"{path} does not match the hash in its card; retrain or restore it")
    trained = pickle.loads(blob)
    assert isinstance(trained, TrainedScore)
    return trained


class ModelNotFound(ValueError):
    pass


def find(directory: Path, score: Score, version: str | None = None) -> tuple[TrainedScore, str]:
    """The named version, or the one trained last, of a score in the models directory."""
    if version is not None:
        path = directory / f"{version}.pkl"
        if not path.exists() or not version.startswith(f"{score}-"):
            raise ModelNotFound(f"no {score} model {version!r} in {directory}")
    else:
        cards = sorted(directory.glob(f"{score}-*.json"), key=lambda p: p.stat().st_mtime)
        if not cards:
            train = "arrears lab train-score --history FILE"
            raise ModelNotFound(f"no {score} model in {directory}; train one: {train}")
        path = cards[-1].with_suffix(".pkl")
    return load(path), path.stem
