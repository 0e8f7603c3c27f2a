"""Response rates from the platform's own interactions, by action, channel and DPD bucket at
the attempt: right-party contact, promises, promises kept, payment within a week.

One grouped query over the window (no per-interaction Python). The action is the strategy step
that planned the attempt, or `agent` for one an agent started; the bucket is the borrower's
worst DPD that day from `delinquency_history` (M0 when no account was delinquent).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from arrears.domain.delinquency import DEFAULT_BUCKETS, BucketScheme
from arrears.domain.outcomes import BORROWER_ONLY, Outcome
from arrears.strategy.compile import Sql, quote

RIGHT_PARTY = sorted({*BORROWER_ONLY, Outcome.HARDSHIP})
PAYMENT_DAYS = 7


class WindowInvalid(ValueError):
    pass


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


@dataclass(frozen=True)
class ResponseRow:
    action: str
    channel: str
    bucket: str
    attempts: int
    borrower_attempts: int
    right_party: int
    promises: int
    promises_settled: int  # kept, partly kept or broken by now
    promises_kept: int
    paid_within_7_days: int

    @property
    def right_party_rate(self) -> float | None:
        """Right-party contacts per attempt on the borrower (contacts' attempts excluded)."""
        return _rate(self.right_party, self.borrower_attempts)

    @property
    def promise_kept_rate(self) -> float | None:
        """Kept promises among those already decided (open ones are not counted)."""
        return _rate(self.promises_kept, self.promises_settled)

    @property
    def payment_rate(self) -> float | None:
        return _rate(self.paid_within_7_days, self.attempts)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "right_party_rate": self.right_party_rate,
            "promise_kept_rate": self.promise_kept_rate,
            "payment_rate": self.payment_rate,
        }


def _bucket_case(column: str, buckets: BucketScheme) -> tuple[str, str]:
    labels, order = [], []
    for i, r in enumerate(buckets.ranges()):
        cond = f"{column} >= {r.low}" if r.high is None else f"{column} <= {r.high}"
        labels.append(f"WHEN {cond} THEN {quote(r.label)}")
        order.append(f"WHEN {cond} THEN {i}")
    return f"CASE {' '.join(labels)} END", f"CASE {' '.join(order)} END"


def _query(sql: Sql, buckets: BucketScheme) -> str:
    rpc = ", ".join(quote(o) for o in RIGHT_PARTY)
    label, order = _bucket_case("dpd", buckets)
    paid = sql.days_between("pm.received_on", "att.business_date")
    return f"""
WITH att AS (
  SELECT i.id, i.case_id, i.business_date, i.channel, i.target_type, i.outcome,
         COALESCE(ac.step, 'agent') AS action, c.borrower_id,
         COALESCE((SELECT MAX(h.dpd) FROM delinquency_history h
                   JOIN accounts a ON a.id = h.account_id
                   WHERE a.borrower_id = c.borrower_id AND h.as_of = i.business_date), 0) AS dpd
  FROM interactions i
  JOIN cases c ON c.id = i.case_id
  LEFT JOIN actions ac ON ac.id = i.action_id
  WHERE i.business_date >= :start AND i.business_date <= :end
),
marked AS (
  SELECT att.action, att.channel, att.dpd,
    CASE WHEN att.target_type = 'borrower' THEN 1 ELSE 0 END AS on_borrower,
    CASE WHEN att.target_type = 'borrower' AND att.outcome IN ({rpc}) THEN 1 ELSE 0 END AS rpc,
    CASE WHEN att.outcome = 'promise' THEN 1 ELSE 0 END AS promise,
    CASE WHEN att.outcome = 'promise' AND EXISTS (SELECT 1 FROM promises p
         WHERE p.case_id = att.case_id AND p.made_on = att.business_date
           AND p.status IN ('kept', 'partly_kept', 'broken')) THEN 1 ELSE 0 END AS settled,
    CASE WHEN att.outcome = 'promise' AND EXISTS (SELECT 1 FROM promises p
         WHERE p.case_id = att.case_id AND p.made_on = att.business_date
           AND p.status = 'kept') THEN 1 ELSE 0 END AS kept,
    CASE WHEN EXISTS (SELECT 1 FROM payments pm JOIN accounts a ON a.id = pm.account_id
         WHERE a.borrower_id = att.borrower_id AND pm.received_on >= att.business_date
           AND {paid} <= {PAYMENT_DAYS}) THEN 1 ELSE 0 END AS paid
  FROM att
)
SELECT action, channel, {label} AS bucket, MIN({order}) AS bucket_order,
       COUNT(*), SUM(on_borrower), SUM(rpc), SUM(promise), SUM(settled), SUM(kept), SUM(paid)
FROM marked
GROUP BY action, channel, {label}
ORDER BY action, channel, bucket_order"""


def response_rates(
    conn: Connection, start: date, end: date, buckets: BucketScheme = DEFAULT_BUCKETS
) -> list[ResponseRow]:
    """Rates over the interactions of business dates start..end (inclusive)."""
    if end < start:
        raise WindowInvalid(f"the window ends ({end}) before it starts ({start})")
    sql = Sql(conn.dialect.name)
    rows = conn.execute(text(_query(sql, buckets)), {"start": start, "end": end}).all()
    return [ResponseRow(r[0], r[1], r[2], *(int(v or 0) for v in r[4:])) for r in rows]
