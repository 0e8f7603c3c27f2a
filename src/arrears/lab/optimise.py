"""Search strategy parameters on the calibrated simulator: recovered money net of cost against
harm (contact-person outreaches, calls per case, complaints), under the floor's capacity; the
Pareto front with 95% intervals over repeated runs, and the chosen strategy as a YAML file the
platform loads (`arrears strategy check`).

Every candidate is run on the same seeds (common random numbers), so differences between two
strategies are paired, seed by seed.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from arrears.domain.money import minor_units
from arrears.lab.simulate import SEED, Model, Outcome, Params, simulate

BAND_FLOORS = {1: 10_000, 2: 50_000}  # the balance bands of arrears.lab.simulate, whole units


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


# two-sided 97.5% quantiles of Student's t for small samples; the normal one beyond
_T975 = {2: 12.71, 3: 4.303, 4: 3.182, 5: 2.776, 10: 2.262, 20: 2.093, 30: 2.045}


def interval(values: Sequence[float]) -> Interval:
    """The mean and its 95% interval (Student's t over the runs)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Interval(mean, mean, mean)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    t = next((q for size, q in sorted(_T975.items()) if n <= size), 1.96)
    half = t * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half)


@dataclass(frozen=True)
class Evaluation:
    params: Params
    runs: tuple[Outcome, ...]

    def metric(self, f: Callable[[Outcome], float]) -> Interval:
        return interval([f(o) for o in self.runs])

    def mean(self, f: Callable[[Outcome], float]) -> float:
        return sum(f(o) for o in self.runs) / len(self.runs)

    @property
    def net(self) -> float:
        return self.mean(lambda o: o.net)

    @property
    def harm(self) -> tuple[float, float, float]:
        return (
            self.mean(lambda o: o.per_case(o.contact_outreaches)),
            self.mean(lambda o: o.per_case(o.calls)),
            self.mean(lambda o: o.per_case(o.complaints)),
        )


def evaluate(
    model: Model, params: Params, seeds: Sequence[int], cases: int, days: int
) -> Evaluation:
    return Evaluation(
        params, tuple(simulate(model, params, cases=cases, days=days, seed=s) for s in seeds)
    )


CALL_CADENCES = {
    "seed": SEED.call_days,
    "every3": tuple(range(3, 60, 3)),
    "every5": tuple(range(5, 60, 5)),
    "every10": tuple(range(10, 60, 10)),
}
SMS_CADENCES = {
    "seed": SEED.sms_days,
    "every3": tuple(range(0, 60, 3)),
    "first": (0,),
}


def space() -> list[Params]:
    """Every combination the search may try (the seed is one of them)."""
    out = []
    for first, calls, sms, contact, band, plan in itertools.product(
        (0, 1, 2, 4),
        CALL_CADENCES.values(),
        SMS_CADENCES.values(),
        (0, 7, 14, 30, None),
        (0, 1, 2),
        (None, 14, 30),
    ):
        if contact is None and band:
            continue
        out.append(Params(first, calls, sms, contact, band, plan))
    return out


def dominates(a: Evaluation, b: Evaluation) -> bool:
    """a is at least as good on net recovery and on every harm, and better on one."""
    ha, hb = a.harm, b.harm
    no_worse = a.net >= b.net and all(x <= y for x, y in zip(ha, hb, strict=True))
    return no_worse and (a.net > b.net or any(x < y for x, y in zip(ha, hb, strict=True)))


def pareto(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    front = [e for e in evaluations if not any(dominates(o, e) for o in evaluations)]
    return sorted(front, key=lambda e: -e.net)


@dataclass(frozen=True)
class Search:
    seed: Evaluation
    front: list[Evaluation]  # on the full seeds
    best: Evaluation
    tried: int


def search(
    model: Model,
    *,
    seeds: Sequence[int],
    cases: int = 2000,
    days: int = 60,
    candidates: int = 150,
    screen_seeds: int = 4,
    front_size: int = 8,
    rng_seed: int = 0,
    contact_cut: float = 0.5,
) -> Search:
    """Screen a random sample of the space on a few seeds, re-run the screened Pareto front on
    every seed, and choose the best: the most net recovery among the strategies with at most
    `contact_cut` of the seed's contact outreaches and no more calls per case than the seed
    (the most net recovery overall when none qualifies)."""
    pool = [p for p in space() if p != SEED]
    sample = random.Random(rng_seed).sample(pool, min(candidates, len(pool)))
    screen = list(seeds[:screen_seeds])
    screened = [evaluate(model, p, screen, cases, days) for p in [SEED, *sample]]

    def gentle(e: Evaluation, seed: Evaluation) -> bool:
        return e.harm[0] <= contact_cut * seed.harm[0] and e.harm[1] <= seed.harm[1]

    # the screened front, and the gentle strategies with the most net recovery, go on
    gentle_screened = sorted((e for e in screened if gentle(e, screened[0])), key=lambda e: -e.net)
    short = [e.params for e in pareto(screened)[:front_size] + gentle_screened[:4]]
    base = evaluate(model, SEED, seeds, cases, days)
    full = [evaluate(model, p, seeds, cases, days) for p in dict.fromkeys(short) if p != SEED]
    front = pareto([*full, base])
    kind = [e for e in full if gentle(e, base)]
    best = max(kind or front, key=lambda e: e.net)
    if best not in front:
        front = sorted([*front, best], key=lambda e: -e.net)
    return Search(base, front, best, len(screened))


@dataclass(frozen=True)
class Comparison:
    seeds: int
    recovery_diff_pct: Interval  # (best − seed) / seed recovered, per seed, in %
    net_diff_pct: Interval
    contact_seed: Interval  # contact-person outreaches per case
    contact_best: Interval
    calls_seed: Interval
    calls_best: Interval
    complaints_seed: Interval  # per 100 cases
    complaints_best: Interval

    @property
    def contact_cut_pct(self) -> float:
        return 100 * (1 - self.contact_best.mean / max(self.contact_seed.mean, 1e-9))

    def aim_met(self) -> bool:
        return self.recovery_diff_pct.low >= 8.0 and self.contact_cut_pct >= 50.0


def compare(best: Evaluation, seed: Evaluation) -> Comparison:
    pairs = list(zip(best.runs, seed.runs, strict=True))
    return Comparison(
        len(pairs),
        interval([100 * (b.recovered - s.recovered) / s.recovered for b, s in pairs]),
        interval([100 * (b.net - s.net) / s.net for b, s in pairs]),
        seed.metric(lambda o: o.per_case(o.contact_outreaches)),
        best.metric(lambda o: o.per_case(o.contact_outreaches)),
        seed.metric(lambda o: o.per_case(o.calls)),
        best.metric(lambda o: o.per_case(o.calls)),
        seed.metric(lambda o: 100 * o.per_case(o.complaints)),
        best.metric(lambda o: 100 * o.per_case(o.complaints)),
    )


@dataclass(frozen=True)
class FrontRow:
    """One strategy of the front (and the seed), its figures as 95% intervals over the seeds."""

    label: str
    params: Params
    chosen: bool
    seed: bool
    net_per_case: Interval  # whole units of the currency
    recovery_pct: Interval
    contacts_per_case: Interval
    calls_per_case: Interval
    complaints_per_100: Interval


def front_rows(result: Search, currency: str) -> list[FrontRow]:
    unit = 10 ** minor_units(currency)
    shown = [*result.front, result.seed] if result.seed not in result.front else result.front
    return [
        FrontRow(
            label=e.params.label(),
            params=e.params,
            chosen=e is result.best,
            seed=e.params == SEED,
            net_per_case=e.metric(lambda o: o.net / o.cases / unit),
            recovery_pct=e.metric(lambda o: 100 * o.recovered / o.at_stake),
            contacts_per_case=e.metric(lambda o: o.per_case(o.contact_outreaches)),
            calls_per_case=e.metric(lambda o: o.per_case(o.calls)),
            complaints_per_100=e.metric(lambda o: 100 * o.per_case(o.complaints)),
        )
        for e in shown
    ]


def render_front(result: Search, currency: str) -> str:
    lines = [
        f"Pareto front ({result.tried} strategies screened; 95% intervals over "
        f"{len(result.seed.runs)} seeds)",
        f"{'':2}{'net recovered / case':>28}  {'recovery %':>20}  {'contacts/case':>20}  "
        f"{'calls/case':>20}  {'complaints/100':>20}  strategy",
    ]
    for r in front_rows(result, currency):
        mark = "*" if r.chosen else ("S" if r.seed else " ")
        lines.append(
            f"{mark} {_iv(r.net_per_case, 0):>28}  {_iv(r.recovery_pct, 1):>20}  "
            f"{_iv(r.contacts_per_case, 2):>20}  {_iv(r.calls_per_case, 1):>20}  "
            f"{_iv(r.complaints_per_100, 2):>20}  {r.label}"
        )
    lines.append(f"* the chosen strategy, S the seed; amounts in {currency}")
    return "\n".join(lines)


def report(
    result: Search, comparison: Comparison, currency: str, *, strategy: str, file: str
) -> dict[str, object]:
    """The report as JSON data (`arrears lab optimise --report`): what the strategist's page
    shows. Intervals are {mean, low, high}."""
    from dataclasses import asdict

    return {
        "kind": "arrears.lab.optimise/1",
        "currency": currency,
        "seeds": len(result.seed.runs),
        "tried": result.tried,
        "strategy": strategy,
        "strategy_file": file,
        "front": [asdict(r) for r in front_rows(result, currency)],
        "comparison": {**asdict(comparison), "contact_cut_pct": comparison.contact_cut_pct},
        "aim_met": comparison.aim_met(),
    }


def _iv(i: Interval, digits: int) -> str:
    return f"{i.mean:.{digits}f} [{i.low:.{digits}f}, {i.high:.{digits}f}]"


def render_comparison(c: Comparison) -> str:
    met = "met" if c.aim_met() else "NOT met"
    return "\n".join(
        [
            f"best against seed over {c.seeds} seeds (95% intervals):",
            f"  recovery difference      {_iv(c.recovery_diff_pct, 1)} %",
            f"  net recovery difference  {_iv(c.net_diff_pct, 1)} %",
            f"  contact outreaches/case  seed {_iv(c.contact_seed, 3)}  best "
            f"{_iv(c.contact_best, 3)}  ({c.contact_cut_pct:.0f}% fewer)",
            f"  calls/case               seed {_iv(c.calls_seed, 2)}  best {_iv(c.calls_best, 2)}",
            f"  complaints/100 cases     seed {_iv(c.complaints_seed, 2)}  best "
            f"{_iv(c.complaints_best, 2)}",
            f"  aim (>= 8% more recovery, lower bound; >= 50% fewer contact outreaches): {met}",
        ]
    )


# --- the strategy file ----------------------------------------------------------------------


def to_yaml(params: Params, name: str, currency: str, description: str) -> str:
    """The parameters as a strategy in the platform's language: the seed's structure with the
    searched days, conditions and cadences; dpd = days since opening + 1."""
    out = [
        "# Written by `arrears lab optimise` from the calibrated simulator; see docs/lab.md.",
        f"strategy: {name}",
        "version: 1",
        f"description: {_quote(description)}",
        f"currency: {currency}",
        f"salt: {name}-1",
        "variants:",
        "  - name: champion",
        "    share: 100",
        "segments:",
        "  - {name: hardship, when: is_set(hardship), queue: hardship}",
        "  - {name: early, when: dpd <= 30, queue: early}",
        "  - {name: late, when: true, queue: late}",
        "steps:",
    ]
    nothing_agreed = 'plan_status != "active" and ptp_status != "open"'
    if 0 in params.sms_days:
        out += _step("dpd1_sms", "case_opened", None, "sms", "reminder_day1", 10)
    calls = sorted(
        {params.first_call_day, *(d for d in params.call_days if d > params.first_call_day)}
    )
    if calls and calls[0] == 0:
        out += _step("dpd1_call", "case_opened", None, "call", "call_borrower", 10)
        calls = calls[1:]
    if params.contact_from_day is not None:
        conditions = []
        if params.contact_from_day > 0:
            conditions.append(f"dpd >= {params.contact_from_day + 1}")
        if params.contact_min_band:
            conditions.append(f"balance >= {BAND_FLOORS[params.contact_min_band]}")
        when = " and ".join(conditions) or None
        out += _step(
            "contact_call", "borrower_unreachable", when, "call", "call_contact", 15, "contacts"
        )
    plan_when = "is_set(hardship)"
    if params.plan_from_day is not None:
        plan_when = f"(is_set(hardship) or dpd >= {params.plan_from_day + 1})"
    out += _step(
        "offer_plan",
        "daily",
        f'{plan_when} and plan_status in ["none", "broken", "cancelled"]',
        "task",
        "offer_plan",
        20,
    )
    out += _step(
        "plan_reminder", "{plan_instalment_due: 3}", None, "sms", "plan_instalment_due", 30
    )
    out += _step(
        "plan_missed_call", "{plan_instalment_missed: 1}", None, "call", "call_plan_missed", 20
    )
    out += _step("ptp_reminder", "{promise_due: 1}", None, "sms", "ptp_reminder", 30)
    out += _step("ptp_broken_call", "promise_broken", None, "call", "call_ptp_broken", 20)
    reminders = [d + 1 for d in sorted(params.sms_days) if d > 0]
    if reminders:
        out += _step("dpd_reminder_{dpd}", _days(reminders), nothing_agreed, "sms", "reminder", 40)
    if calls:
        on = _days([d + 1 for d in calls])
        out += _step("dpd_call_{dpd}", on, nothing_agreed, "call", "call_borrower", 40)
    return "\n".join(out) + "\n"


def _days(days: list[int]) -> str:
    return "{dpd: [" + ", ".join(map(str, days)) + "]}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _step(
    name: str,
    on: str,
    when: str | None,
    channel: str,
    template: str,
    priority: int,
    target: str = "borrower",
) -> list[str]:
    lines = [f"  - name: {name}", f"    on: {on}"]
    if when:
        lines.append(f"    when: {when}")
    lines.append(
        f"    action: {{channel: {channel}, template: {template}, target: {target}, "
        f"priority: {priority}}}"
    )
    return lines


def describe(params: Params) -> str:
    return f"Optimised on the calibrated simulator: {params.label()}"


def write_pdf(result: Search, comparison: Comparison, currency: str, path: str) -> None:
    """The terminal report as a PDF (landscape A4, a fixed-width font)."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(True, margin=10)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(
        0,
        8,
        "Strategy lab: the Pareto front on the calibrated simulator",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Courier", size=6)
    for line in [
        *render_front(result, currency).splitlines(),
        "",
        *render_comparison(comparison).splitlines(),
    ]:
        pdf.cell(
            0,
            3.2,
            line.encode("latin-1", "replace").decode("latin-1"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.output(path)
