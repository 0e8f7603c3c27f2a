"""The nightly score batch: every open case scored as of a date, in one set-based pass.

The platform's own data give the history features (scores.FEATURES) per open case: the bucket
from the case's DPD, the borrower's worst DPD 30 and 60 days back (`delinquency_history`,
which holds the delinquent days; none means M0), the outstanding balance, and what the
borrower paid in the last 30 days and the 30 before. The balance a month back is not kept, so
`balance_change` is 0. One query gathers them, the models score the matrix at once, and the
rows of the date are replaced in one transaction (re-running a date changes nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, delete, insert, text

from arrears.domain.delinquency import DEFAULT_BUCKETS
from arrears.lab.scores import FEATURES, Score, TrainedScore
from arrears.store.tables_lab import lab_scores

_QUERY = """
SELECT c.id, c.dpd,
  COALESCE((SELECT MAX(h.dpd) FROM delinquency_history h JOIN accounts a ON a.id = h.account_id
            WHERE a.borrower_id = c.borrower_id AND h.as_of = :m1), 0) AS dpd_1m,
  COALESCE((SELECT MAX(h.dpd) FROM delinquency_history h JOIN accounts a ON a.id = h.account_id
            WHERE a.borrower_id = c.borrower_id AND h.as_of = :m2), 0) AS dpd_2m,
  COALESCE((SELECT SUM(a.outstanding) FROM accounts a WHERE a.borrower_id = c.borrower_id), 0),
  COALESCE((SELECT SUM(p.amount) FROM payments p JOIN accounts a ON a.id = p.account_id
            WHERE a.borrower_id = c.borrower_id
              AND p.received_on > :m1 AND p.received_on <= :d), 0) AS paid,
  COALESCE((SELECT SUM(p.amount) FROM payments p JOIN accounts a ON a.id = p.account_id
            WHERE a.borrower_id = c.borrower_id
              AND p.received_on > :m2 AND p.received_on <= :m1), 0) AS paid_1m
FROM cases c
WHERE c.status = 'open' AND c.opened_on <= :d
ORDER BY c.id"""


class ScoreModelMismatch(ValueError):
    """A model given for one score was trained for another."""


def bucket_codes(dpd: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """DPD → bucket code of the default scheme (0 = M0 … 7 = M7+), vectorised."""
    bounds = np.asarray(DEFAULT_BUCKETS.upper_bounds)
    codes = np.searchsorted(bounds, dpd, side="left") + 1
    return np.where(dpd <= 0, 0, codes).astype(np.int64)


def features(conn: Connection, as_of: date) -> tuple[list[int], npt.NDArray[np.float64]]:
    m1, m2 = as_of - timedelta(days=30), as_of - timedelta(days=60)
    rows = conn.execute(text(_QUERY), {"d": as_of, "m1": m1, "m2": m2}).all()
    if not rows:
        return [], np.zeros((0, len(FEATURES)))
    raw = np.array([[int(v) for v in r] for r in rows], dtype=np.int64)
    ids = raw[:, 0].tolist()
    b0, b1, b2 = (bucket_codes(raw[:, i]) for i in (1, 2, 3))
    worst = np.maximum(b0, np.maximum(b1, b2))
    delinquent = (b0 > 0).astype(np.int64) + (b1 > 0) + (b2 > 0)
    balance, paid, paid1 = raw[:, 4], raw[:, 5], raw[:, 6]
    share = np.divide(paid, np.abs(balance), out=np.zeros(len(raw)), where=balance != 0)
    parts = [b0, b1, b2, worst, delinquent, balance, np.zeros(len(raw)), paid, paid1, share]
    return ids, np.stack([np.asarray(p, dtype=np.float64) for p in parts], axis=1)


@dataclass(frozen=True)
class ScoredBatch:
    as_of: date
    cases: int
    pay_model: str
    cure_model: str


def score_open_cases(
    conn: Connection,
    as_of: date,
    pay: TrainedScore,
    cure: TrainedScore,
    versions: tuple[str, str],
) -> ScoredBatch:
    """Score every open case as of the date and replace that date's rows (same transaction)."""
    if pay.score is not Score.P_PAY_30 or cure.score is not Score.P_SELF_CURE:
        raise ScoreModelMismatch(
            f"give a {Score.P_PAY_30} model and a {Score.P_SELF_CURE} model "
            f"(got {pay.score} and {cure.score})"
        )
    ids, x = features(conn, as_of)
    conn.execute(delete(lab_scores).where(lab_scores.c.as_of == as_of))
    if ids:
        p_pay, p_cure = pay.predict(x), cure.predict(x)
        pay_why, cure_why = pay.reasons(x), cure.reasons(x)
        conn.execute(
            insert(lab_scores),
            [
                {
                    "case_id": case_id,
                    "as_of": as_of,
                    "p_pay_30": round(float(p_pay[i]), 6),
                    "p_self_cure": round(float(p_cure[i]), 6),
                    "pay_model": versions[0],
                    "cure_model": versions[1],
                    "pay_reasons": json.dumps(pay_why[i], ensure_ascii=False),
                    "cure_reasons": json.dumps(cure_why[i], ensure_ascii=False),
                }
                for i, case_id in enumerate(ids)
            ],
        )
    return ScoredBatch(as_of, len(ids), versions[0], versions[1])
