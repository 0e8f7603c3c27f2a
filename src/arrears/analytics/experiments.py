"""Champion/challenger results: per variant, with confidence intervals and a test of each
challenger's difference from the champion (the strategy's first variant).

The cohort is the cases given their variant on the day they opened (cases already open when
the strategy started are left out: they would carry the champion's history), drawn by the hash
(cases pinned to a variant — salt `pinned`, such as the demo's scripted case study — are left
out and counted: they were not randomised). Measures:

- cure rate at 30 days: of the cases opened at least 30 days before the date, the share closed
  cured or paid off within 30 days of opening — Wilson interval, two-proportion z-test;
- recovered / overdue: payments received on the borrower's accounts in the case's currency
  from opening to the date or the case's closing (at most the case's overdue amount at
  opening: regular instalments paid later are not recoveries), over the overdue amount at
  opening, summed over cases — a ratio estimator with a delta-method interval and z-test;
- contacts per case: interactions that reached a person (borrower or contact), and attempts
  per case (every interaction) — mean, normal interval, Welch z-test;
- PTP kept rate: of the cohort's settled promises, the share kept in full — Wilson, z-test;
- reached on day one: the share of cases where a person (borrower or contact) was reached on
  the day the case opened — Wilson, z-test.

This is the one definition of a variant's results: `arrears experiment report` and the
manager's variant view on the web (`variant_views`) both summarise these outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection, text

from arrears.store.db import is_sqlite
from arrears.strategy.plan import PINNED

Z95 = 1.959963984540054
REACHED = (
    "right_party",
    "contact_reached",
    "promise",
    "dispute",
    "hardship",
    "refused",
    "contact_refused",
)


# ---------------------------------------------------------------- statistics (pure)


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    n: int  # observations behind it

    def show(self, percent: bool = False) -> str:
        if self.value is None or self.low is None or self.high is None:
            return "n/a"
        if percent:
            return f"{self.value:.1%} [{self.low:.1%}, {self.high:.1%}]"
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


@dataclass(frozen=True)
class Difference:
    measure: str
    challenger: str
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None

    def show(self, percent: bool = False) -> str:
        if self.diff is None or self.low is None or self.high is None or self.p_value is None:
            return f"{self.measure}: not enough data"
        fmt = "{:+.1%}" if percent else "{:+.2f}"
        sig = " (significant at 5%)" if self.p_value < 0.05 else ""
        return (
            f"{self.measure}: {fmt.format(self.diff)} "
            f"[{fmt.format(self.low)}, {fmt.format(self.high)}], p = {self.p_value:.3f}{sig}"
        )


def normal_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))


def wilson(successes: int, n: int) -> Estimate:
    if n == 0:
        return Estimate(None, None, None, 0)
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def two_proportions(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float, float, float] | None:
    """(diff p2 - p1, low, high, p-value): unpooled interval, pooled z-test."""
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = s1 / n1, s2 / n2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    pooled = (s1 + s2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 1.0 if se0 == 0 else normal_p((p2 - p1) / se0)
    d = p2 - p1  # a difference of two shares lies within [-1, 1]: so does its interval
    return d, max(-1.0, d - Z95 * se), min(1.0, d + Z95 * se), p_value


def mean_estimate(values: Sequence[float]) -> tuple[Estimate, float]:
    """The mean with a normal interval, and its squared standard error."""
    n = len(values)
    if n == 0:
        return Estimate(None, None, None, 0), 0.0
    m = sum(values) / n
    var = sum((v - m) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    se2 = var / n
    half = Z95 * math.sqrt(se2)
    return Estimate(m, m - half, m + half, n), se2


def ratio_estimate(ys: Sequence[float], xs: Sequence[float]) -> tuple[Estimate, float]:
    """Σy / Σx with a delta-method interval, and its squared standard error."""
    n = len(xs)
    total_x = sum(xs)
    if n == 0 or total_x == 0:
        return Estimate(None, None, None, n), 0.0
    r = sum(ys) / total_x
    mean_x = total_x / n
    resid = [y - r * x for y, x in zip(ys, xs, strict=True)]
    var = sum(e * e for e in resid) / (n - 1) if n > 1 else 0.0
    se2 = var / (n * mean_x * mean_x)
    half = Z95 * math.sqrt(se2)
    return Estimate(r, r - half, r + half, n), se2


def diff_of(
    a: Estimate, se2a: float, b: Estimate, se2b: float
) -> tuple[float, float, float, float] | None:
    if a.value is None or b.value is None or a.n < 2 or b.n < 2:
        return None
    d = b.value - a.value
    se = math.sqrt(se2a + se2b)
    p_value = 1.0 if se == 0 else normal_p(d / se)
    return d, d - Z95 * se, d + Z95 * se, p_value


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class CaseOutcome:
    case_id: int
    variant: str
    opened_on: date
    status: str
    closed_on: date | None
    overdue_at_open: int
    recovered: int
    attempts: int
    reached: int
    promises_settled: int
    promises_kept: int
    reached_day_one: bool = False
    currency: str = ""


@dataclass(frozen=True)
class VariantResult:
    variant: str
    share: int | None
    cases: int
    cure_rate_30d: Estimate
    recovery_rate: Estimate
    contacts_per_case: Estimate
    attempts_per_case: Estimate
    ptp_kept_rate: Estimate
    reached_day_one: Estimate = Estimate(None, None, None, 0)
    se2: dict[str, float] = field(default_factory=dict, repr=False)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ExperimentReport:
    strategy: str
    as_of: date
    variants: list[VariantResult]
    differences: list[Difference]
    pinned: int = 0  # cases placed in a variant by a pin, left out of the cohort

    def as_dict(self) -> dict[str, object]:
        def est(e: Estimate) -> dict[str, object]:
            return {"value": e.value, "low": e.low, "high": e.high, "n": e.n}

        return {
            "strategy": self.strategy,
            "as_of": self.as_of.isoformat(),
            "pinned_cases_left_out": self.pinned,
            "variants": [
                {
                    "variant": v.variant,
                    "cases": v.cases,
                    "cure_rate_30d": est(v.cure_rate_30d),
                    "recovery_rate": est(v.recovery_rate),
                    "contacts_per_case": est(v.contacts_per_case),
                    "attempts_per_case": est(v.attempts_per_case),
                    "ptp_kept_rate": est(v.ptp_kept_rate),
                    "reached_day_one": est(v.reached_day_one),
                }
                for v in self.variants
            ],
            "differences": [
                {
                    "measure": d.measure,
                    "challenger": d.challenger,
                    "diff": d.diff,
                    "low": d.low,
                    "high": d.high,
                    "p_value": d.p_value,
                }
                for d in self.differences
            ],
        }


def _day(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def case_outcomes(conn: Connection, strategy: str, as_of: date) -> list[CaseOutcome]:
    """The cohort's cases of one strategy, each with what happened to it by the date."""
    return [o for _, o in _outcomes(conn, strategy, as_of)]


def _outcomes(conn: Connection, strategy: str | None, as_of: date) -> list[tuple[str, CaseOutcome]]:
    """(strategy, outcome) of the cohort's cases: of one strategy, or of every one (None)."""
    d = f"'{as_of.isoformat()}'" if is_sqlite(conn.engine) else f"DATE '{as_of.isoformat()}'"
    reached = ", ".join(f"'{o}'" for o in REACHED)
    one = " AND s.strategy = :strategy" if strategy is not None else ""
    rows = conn.execute(
        text(
            f"""SELECT c.id, s.variant, c.opened_on, c.status, c.closed_on, c.overdue_at_open,
                  (SELECT COALESCE(SUM(p.amount), 0) FROM payments p
                     JOIN accounts a ON a.id = p.account_id
                    WHERE a.borrower_id = c.borrower_id AND p.received_on >= c.opened_on
                      AND p.received_on <= {d} AND p.currency = c.currency
                      AND (c.closed_on IS NULL OR p.received_on <= c.closed_on)) AS recovered,
                  (SELECT COUNT(*) FROM interactions i
                    WHERE i.case_id = c.id AND i.business_date <= {d}) AS attempts,
                  (SELECT COUNT(*) FROM interactions i WHERE i.case_id = c.id
                      AND i.business_date <= {d} AND i.outcome IN ({reached})) AS reached,
                  (SELECT COUNT(*) FROM promises pr WHERE pr.case_id = c.id
                      AND pr.status IN ('kept', 'partly_kept', 'broken')
                      AND pr.settled_on <= {d}) AS settled,
                  (SELECT COUNT(*) FROM promises pr WHERE pr.case_id = c.id
                      AND pr.status = 'kept' AND pr.settled_on <= {d}) AS kept,
                  (SELECT COUNT(*) FROM interactions i WHERE i.case_id = c.id
                      AND i.business_date = c.opened_on AND i.outcome IN ({reached})) AS day_one,
                  c.currency, s.strategy
               FROM strategy_assignments s JOIN cases c ON c.id = s.case_id
               WHERE s.assigned_on = c.opened_on{one}
                 AND s.salt <> :pinned AND c.opened_on <= {d}
               ORDER BY s.strategy, c.id"""
        ),
        {"strategy": strategy, "pinned": PINNED},
    ).all()
    return [
        (r[13], CaseOutcome(
            int(r[0]), r[1], _day(r[2]) or as_of, r[3], _day(r[4]), int(r[5]), int(r[6]),
            int(r[7]), int(r[8]), int(r[9]), int(r[10]), int(r[11]) > 0, r[12],
        ))
        for r in rows
    ]  # fmt: skip


def summarise(
    outcomes: Sequence[CaseOutcome], as_of: date, variant: str, share: int | None
) -> VariantResult:
    mine = [o for o in outcomes if o.variant == variant]
    mature = [o for o in mine if o.opened_on <= as_of - timedelta(days=30)]
    cured = sum(
        1
        for o in mature
        if o.status in ("cured", "paid_off")
        and o.closed_on is not None
        and o.closed_on <= o.opened_on + timedelta(days=30)
    )
    settled = sum(o.promises_settled for o in mine)
    kept = sum(o.promises_kept for o in mine)
    recovery, se_rec = ratio_estimate(
        [float(min(o.recovered, o.overdue_at_open)) for o in mine],
        [float(o.overdue_at_open) for o in mine],
    )
    contacts, se_con = mean_estimate([float(o.reached) for o in mine])
    day_one = sum(1 for o in mine if o.reached_day_one)
    attempts, se_att = mean_estimate([float(o.attempts) for o in mine])
    return VariantResult(
        variant=variant,
        share=share,
        cases=len(mine),
        cure_rate_30d=wilson(cured, len(mature)),
        recovery_rate=recovery,
        contacts_per_case=contacts,
        attempts_per_case=attempts,
        ptp_kept_rate=wilson(kept, settled),
        reached_day_one=wilson(day_one, len(mine)),
        se2={"recovery": se_rec, "contacts": se_con, "attempts": se_att},
        counts={"cure": (cured, len(mature)), "ptp": (kept, settled), "day1": (day_one, len(mine))},
    )


def compare(champion: VariantResult, challenger: VariantResult) -> list[Difference]:
    out: list[Difference] = []
    name = challenger.variant
    for measure, key in (
        ("reached on day one", "day1"),
        ("cure rate at 30 days", "cure"),
        ("PTP kept rate", "ptp"),
    ):
        s1, n1 = champion.counts[key]
        s2, n2 = challenger.counts[key]
        res = two_proportions(s1, n1, s2, n2)
        out.append(Difference(measure, name, *(res or (None, None, None, None))))
    for measure, attr, key in (
        ("recovered / overdue", "recovery_rate", "recovery"),
        ("contacts per case", "contacts_per_case", "contacts"),
        ("attempts per case", "attempts_per_case", "attempts"),
    ):
        res = diff_of(
            getattr(champion, attr),
            champion.se2[key],
            getattr(challenger, attr),
            challenger.se2[key],
        )
        out.append(Difference(measure, name, *(res or (None, None, None, None))))
    return out


def experiment_report(
    conn: Connection, strategy: str, as_of: date, variants: Sequence[tuple[str, int]] = ()
) -> ExperimentReport:
    """variants: (name, share) in the strategy's order; default: those found, champion first."""
    outcomes = case_outcomes(conn, strategy, as_of)
    names = [v for v, _ in variants] or sorted(
        {o.variant for o in outcomes}, key=lambda v: (v != "champion", v)
    )
    shares = dict(variants)
    results = [summarise(outcomes, as_of, v, shares.get(v)) for v in names]
    diffs: list[Difference] = []
    for challenger in results[1:]:
        diffs.extend(compare(results[0], challenger))
    pinned = conn.execute(
        text("SELECT COUNT(*) FROM strategy_assignments WHERE strategy = :s AND salt = :pinned"),
        {"s": strategy, "pinned": PINNED},
    ).scalar_one()
    return ExperimentReport(strategy, as_of, results, diffs, int(pinned))


def variant_views(
    conn: Connection, as_of: date, shares: dict[str, list[tuple[str, int]]] | None = None
) -> list[tuple[str, str, VariantResult]]:
    """(strategy, currency, result) of every strategy's variants, the champion first, per
    currency (amounts in different currencies are never pooled); with one currency each
    result is the experiment report's own. shares: strategy -> (variant, share) in order."""
    by: dict[tuple[str, str], list[CaseOutcome]] = {}
    for strategy, o in _outcomes(conn, None, as_of):
        by.setdefault((strategy, o.currency), []).append(o)
    out: list[tuple[str, str, VariantResult]] = []
    for (strategy, currency), outcomes in sorted(by.items()):
        given = (shares or {}).get(strategy, [])
        found = {o.variant for o in outcomes}
        names = [v for v, _ in given if v in found] + sorted(
            found - {v for v, _ in given}, key=lambda v: (v != "champion", v)
        )
        of = dict(given)
        out.extend((strategy, currency, summarise(outcomes, as_of, v, of.get(v))) for v in names)
    return out


LABELS = {
    "reached on day one": "reached on day one",
    "cure rate at 30 days": "cured within 30 days",
    "recovered / overdue": "recovered / overdue",
    "contacts per case": "people reached per case",
    "attempts per case": "contact attempts per case",
    "PTP kept rate": "promises kept in full",
}
PERCENT = ("reached on day one", "cure rate at 30 days", "PTP kept rate", "recovered / overdue")


def _difference(d: Difference) -> str:
    if d.diff is None or d.low is None or d.high is None or d.p_value is None:
        return "not enough data yet"
    fmt = "{:+.1%}" if d.measure in PERCENT else "{:+.2f}"
    verdict = "significant" if d.p_value < 0.05 else "not significant"
    span = f"{fmt.format(d.diff)} [{fmt.format(d.low)}, {fmt.format(d.high)}]"
    return f"{span:<28}p = {d.p_value:.3f}  {verdict}"


def render(report: ExperimentReport) -> str:
    """The report as a collections team reads it: a column per variant, then each challenger's
    difference from the champion with its interval and whether it is more than chance."""
    vs = report.variants
    lines = [
        f"Experiment {report.strategy}, as of {report.as_of}",
        "Cases opened during the experiment, each given its variant at random on its first day;",
        "figures in brackets are 95% intervals.",
    ]
    if report.pinned:
        which = (
            "1 case pinned to a variant is"
            if report.pinned == 1
            else (f"{report.pinned} cases pinned to a variant are")
        )
        lines.append(f"{which} left out (scripted, not drawn at random).")
    lines.append("")
    lines.append(f"{'':<26}" + "".join(f"{v.variant:>30}" for v in vs))

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"{label:<26}" + "".join(f"{c:>30}" for c in cells))

    row("share of new cases", [f"{v.share}%" if v.share is not None else "-" for v in vs])
    row("cases", [str(v.cases) for v in vs])
    row(LABELS["reached on day one"], [v.reached_day_one.show(True) for v in vs])
    row("cases open 30+ days", [str(v.cure_rate_30d.n) for v in vs])
    row(LABELS["cure rate at 30 days"], [v.cure_rate_30d.show(True) for v in vs])
    row(LABELS["recovered / overdue"], [v.recovery_rate.show(True) for v in vs])
    row(LABELS["contacts per case"], [v.contacts_per_case.show() for v in vs])
    row(LABELS["attempts per case"], [v.attempts_per_case.show() for v in vs])
    row("promises settled", [str(v.ptp_kept_rate.n) for v in vs])
    row(LABELS["PTP kept rate"], [v.ptp_kept_rate.show(True) for v in vs])
    champion = vs[0].variant if vs else ""
    for challenger in dict.fromkeys(d.challenger for d in report.differences):
        lines.append("")
        lines.append(f"{challenger} against {champion}: difference [95% interval], p-value")
        mine = [d for d in report.differences if d.challenger == challenger]
        for d in sorted(mine, key=lambda d: list(LABELS).index(d.measure)):
            lines.append(f"  {LABELS.get(d.measure, d.measure):<27}{_difference(d)}")
    if report.differences:
        lines.append("(significant: a difference this large would arise by chance less than 5% of")
        lines.append(" the time; otherwise the experiment cannot yet tell the variants apart)")
    return "\n".join(lines)
