"""Read queries of the manager's and the compliance officer's views (the web pages call these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, text

from arrears.analytics import experiments as ex
from arrears.compliance.templates import list_templates
from arrears.domain.money import Money
from arrears.store import tables as t
from arrears.store.sql import dated
from arrears.store.tables_compliance import compliance_overrides
from arrears.strategy import deployed


def buckets_over_time(
    conn: Connection, end: date, days: int = 60
) -> tuple[list[date], dict[str, dict[str, list[Decimal]]]]:
    """Overdue amount by currency and bucket for each business date of the window, in the
    currency's major units (its own minor units: none for yen, two for yuan); amounts in
    different currencies are never added together."""
    h, a = t.delinquency_history, t.accounts
    rows = conn.execute(
        select(a.c.currency, h.c.as_of, h.c.bucket, func.sum(h.c.overdue_amount))
        .join(a, a.c.id == h.c.account_id)
        .where(h.c.as_of > end - timedelta(days=days), h.c.as_of <= end)
        .group_by(a.c.currency, h.c.as_of, h.c.bucket)
        .order_by(h.c.as_of)
    ).all()
    dates = sorted({r[1] for r in rows})
    buckets = sorted({r[2] for r in rows}, key=lambda b: (len(b), b))
    index = {d: i for i, d in enumerate(dates)}
    zero = Decimal(0)
    series: dict[str, dict[str, list[Decimal]]] = {}
    for currency, as_of, bucket, total in rows:
        of_currency = series.setdefault(currency, {b: [zero] * len(dates) for b in buckets})
        of_currency[bucket][index[as_of]] = Money.from_minor(int(total or 0), currency).amount
    return dates, dict(sorted(series.items()))


@dataclass(frozen=True)
class Roll:
    bucket: str
    accounts: int
    rolled: int  # to a worse bucket
    cured: int  # back to current

    @property
    def roll_rate(self) -> float:
        return self.rolled / self.accounts if self.accounts else 0.0

    @property
    def cure_rate(self) -> float:
        return self.cured / self.accounts if self.accounts else 0.0


def roll_rates(conn: Connection, end: date, lag: int = 30) -> list[Roll]:
    """Of the accounts in each bucket `lag` days before `end`, how many rolled or cured."""
    start = end - timedelta(days=lag)
    rows = conn.execute(
        dated(
            """SELECT h1.bucket, COUNT(*) AS n,
                      SUM(CASE WHEN h2.bucket > h1.bucket THEN 1 ELSE 0 END) AS rolled,
                      SUM(CASE WHEN h2.account_id IS NULL THEN 1 ELSE 0 END) AS cured
               FROM delinquency_history h1
               LEFT JOIN delinquency_history h2
                 ON h2.account_id = h1.account_id AND h2.as_of = :end
               WHERE h1.as_of = :start
               GROUP BY h1.bucket""",
            "start",
            "end",
        ),
        {"start": start, "end": end},
    ).all()
    out = [Roll(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows]
    return sorted(out, key=lambda r: (len(r.bucket), r.bucket))


@dataclass(frozen=True)
class VariantResult:
    """A strategy variant's results in one currency, as the experiment report computes them
    (`analytics/experiments.py`: one definition, with 95% intervals)."""

    strategy: str
    currency: str
    result: ex.VariantResult

    @property
    def variant(self) -> str:
        return self.result.variant

    @property
    def cases(self) -> int:
        return self.result.cases

    @property
    def cure_rate(self) -> float:
        return self.result.cure_rate_30d.value or 0.0

    @property
    def recovery_rate(self) -> float:
        return self.result.recovery_rate.value or 0.0

    @property
    def kept_rate(self) -> float:
        return self.result.ptp_kept_rate.value or 0.0


def variant_results(conn: Connection, end: date) -> list[VariantResult]:
    """Per strategy variant and currency: the experiment report's results (cases given their
    variant on their first day; cured within 30 days, recovered / overdue in the cases' own
    currency, promises kept), with the shares of the version in force for a deployed one."""
    shares = {
        d.name: list(d.shares) for d in deployed.versions(conn) if d.in_force(end) and d.shares
    }
    return [
        VariantResult(strategy, currency, result)
        for strategy, currency, result in ex.variant_views(conn, end, shares)
    ]


def recovery_by_week(
    conn: Connection, end: date, weeks: int = 10
) -> dict[str, list[tuple[date, Money]]]:
    """Payments received on accounts of borrowers with a case, week by week, per currency."""
    start = end - timedelta(weeks=weeks)
    rows = conn.execute(
        dated(
            """SELECT p.currency, p.received_on, SUM(p.amount)
               FROM payments p JOIN accounts a ON a.id = p.account_id
               WHERE p.received_on > :start AND p.received_on <= :end
                 AND EXISTS (SELECT 1 FROM cases c WHERE c.borrower_id = a.borrower_id
                             AND c.opened_on <= p.received_on)
               GROUP BY p.currency, p.received_on""",
            "start",
            "end",
        ),
        {"start": start, "end": end},
    ).all()
    minor: dict[str, dict[date, int]] = {}
    for currency, received, amount in rows:
        day = received if isinstance(received, date) else date.fromisoformat(str(received))
        week = end - timedelta(days=((end - day).days // 7) * 7)
        weeks_of = minor.setdefault(currency, {})
        weeks_of[week] = weeks_of.get(week, 0) + int(amount or 0)
    return {
        currency: [(week, Money.from_minor(total, currency)) for week, total in sorted(w.items())]
        for currency, w in sorted(minor.items())
    }


def cure_by_cohort(conn: Connection, end: date) -> list[tuple[str, int, int]]:
    """Cases opened per week (cohort label, opened, cured or paid off so far)."""
    rows = conn.execute(
        select(
            t.cases.c.opened_on,
            func.count(),
            func.sum(
                text("CASE WHEN status IN ('cured', 'paid_off', 'settled') THEN 1 ELSE 0 END")
            ),
        )
        .where(t.cases.c.opened_on <= end)
        .group_by(t.cases.c.opened_on)
    ).all()
    weeks: dict[date, list[int]] = {}
    for opened, n, cured in rows:
        day = opened if isinstance(opened, date) else date.fromisoformat(str(opened))
        week = day - timedelta(days=day.weekday())
        acc = weeks.setdefault(week, [0, 0])
        acc[0] += int(n)
        acc[1] += int(cured or 0)
    return [(w.isoformat(), a[0], a[1]) for w, a in sorted(weeks.items())][-12:]


def blocked_actions(conn: Connection, end: date, limit: int = 100) -> list[Any]:
    a = t.actions
    return list(
        conn.execute(
            select(a)
            .where(a.c.status == "blocked", a.c.business_date <= end)
            .order_by(a.c.business_date.desc(), a.c.id.desc())
            .limit(limit)
        )
    )


def blocked_by_rule(conn: Connection, end: date, days: int = 30) -> list[tuple[str, int]]:
    a = t.actions
    rows = conn.execute(
        select(func.coalesce(a.c.rule_id, "?"), func.count())
        .where(a.c.status == "blocked", a.c.business_date > end - timedelta(days=days))
        .group_by(a.c.rule_id)
        .order_by(func.count().desc())
    ).all()
    return [(r[0], int(r[1])) for r in rows]


def overridden_actions(conn: Connection, limit: int = 100) -> list[Any]:
    o = compliance_overrides
    a = t.actions
    return list(
        conn.execute(
            select(o, a.c.case_id, a.c.step, a.c.channel, a.c.target_type)
            .join(a, a.c.id == o.c.action_id)
            .order_by(o.c.at.desc())
            .limit(limit)
        )
    )


def template_approvals(conn: Connection) -> list[Any]:
    return list(list_templates(conn))
