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
        return np.asarray(self.counts.sum(axis=2), dtype=np.int64)


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
        counts += np.bincount((seg * k + a[both]) * k + b[both], minlength=s_n * k * k).reshape(
            s_n, k, k
        )
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
        out: FloatArray = np.zeros(counts.shape)
        np.divide(counts, totals, out=out, where=totals > 0)
        return out

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


# --- the calibrated simulator ----------------------------------------------------------------
# A case opens on a day of the first month, in the bucket the history says accounts enter
# delinquency in; each day it cures with a hazard fitted so that, under the seed strategy (the
# practice the history is taken to reflect), the month's cure rate is the history's; at each
# month's end an uncured case rolls as the history's rows say. Actions scale the hazard by the
# priors (docs/lab.md): the history cannot tell what an SMS, a call or a contact did.

MONTH = 30


@dataclass(frozen=True)
class Priors:
    """Response to actions; each figure and its source is in docs/lab.md."""

    sms_lift: float = 0.20  # hazard x(1 + lift) for sms_window days after a reminder
    sms_window: int = 3
    answer_rate: float = 0.45  # a borrower call reaches the borrower
    call_lift: float = 1.00  # after a right-party call (a promise), for call_window days
    call_window: int = 7
    contact_reach: float = 0.70  # a contact answers and passes the message on
    contact_lift: float = 0.185  # from then on, for the rest of the case
    contact_complaint: float = 0.03  # a contact outreach ends in a complaint
    contact_refuses: float = 0.08  # ... or the contact asks never to be called again (final)
    call_complaint: float = 0.004  # a borrower call ends in a complaint
    hardship_share: float = 0.07  # cases in hardship: they cure only through a plan
    hardship_hazard: float = 0.15  # their hazard, relative, without a plan
    plan_accept_hardship: float = 0.60
    plan_accept_other: float = 0.25
    plan_keep_hardship: float = 0.90  # per instalment
    plan_keep_other: float = 0.60

    def scaled(self, contact: float) -> Priors:
        """The same priors with the contact-person effect multiplied (sensitivity analysis)."""
        from dataclasses import replace

        return replace(self, contact_lift=self.contact_lift * contact)


@dataclass(frozen=True)
class Floor:
    """What the floor can do in a day, and what each action costs (minor units)."""

    calls_per_agent_day: int = 60
    agents: int = 6
    sms_per_day: int = 1500
    sms_cost: int = 100  # NT$1
    call_cost: int = 2000  # NT$20: a few minutes of an agent
    plan_cost: int = 5000  # NT$50: an agent's and a team lead's time
    book: int = 2000  # the capacity is for a book of this many new cases a month

    def calls_per_day(self, cases: int) -> int:
        return max(1, self.calls_per_agent_day * self.agents * cases // self.book)

    def sms_per_day_for(self, cases: int) -> int:
        return max(1, self.sms_per_day * cases // self.book)


@dataclass(frozen=True)
class Params:
    """The strategy parameters the optimiser searches; days are days since the case opened
    (dpd - 1 for a new case). The defaults are the seed strategy (strategy/seed.yaml)."""

    first_call_day: int = 0
    call_days: tuple[int, ...] = (2, 6, 14, 29, 44, 59)
    sms_days: tuple[int, ...] = (0, 2, 6, 14, 29)
    contact_from_day: int | None = (
        0  # contacts of an unreachable borrower from this day; None: never
    )
    contact_min_band: int = 0  # ... and only for cases in this balance band or above
    plan_from_day: int | None = (
        None  # offer a plan to every case from this day; None: hardship only
    )

    def label(self) -> str:
        contact = (
            "never"
            if self.contact_from_day is None
            else f"d{self.contact_from_day}+/{SEGMENTS[self.contact_min_band]}+"
        )
        plan = "hardship" if self.plan_from_day is None else f"d{self.plan_from_day}+"
        return (
            f"call d{self.first_call_day} then {','.join(map(str, self.call_days)) or '-'}; "
            f"sms {','.join(map(str, self.sms_days)) or '-'}; contacts {contact}; plan {plan}"
        )


SEED = Params()


@dataclass(frozen=True)
class Outcome:
    """One simulated run: totals over the cases (money in minor units)."""

    cases: int
    at_stake: int  # balances of the cases when they opened
    recovered: int
    cost: int
    calls: int
    contact_outreaches: int
    complaints: int
    sms: int
    dropped_calls: int  # over the floor's capacity
    cells: IntArray  # S x k x k: case-months by segment, bucket at start, bucket at end

    @property
    def net(self) -> int:
        return self.recovered - self.cost

    def per_case(self, value: int) -> float:
        return value / max(self.cases, 1)


@dataclass(frozen=True)
class Model:
    """The fit, the hazards fitted to it, the priors and the floor: everything a run needs."""

    fit: Fit
    hazard: FloatArray  # S x k daily cure hazard under the seed strategy
    roll: FloatArray  # S x k x k month-end roll of an uncured case (no M0 column)
    priors: Priors
    floor: Floor

    def with_priors(self, priors: Priors) -> Model:
        from dataclasses import replace

        return replace(self, priors=priors)


def _roll_rows(fitted: Fit) -> FloatArray:
    p = fitted.probabilities().copy()
    p[:, :, 0] = 0.0
    totals = p.sum(axis=2, keepdims=True)
    k = len(fitted.labels)
    stay = np.broadcast_to(np.eye(k), p.shape)
    return np.where(totals > 0, p / np.where(totals > 0, totals, 1.0), stay)


def calibrate(
    fitted: Fit,
    priors: Priors | None = None,
    floor: Floor | None = None,
    *,
    cases: int = 20_000,
    rounds: int = 6,
    seed: int = 0,
) -> Model:
    """Fit the daily hazards: start from the constant hazard giving each cell's cure rate,
    then rescale each cell by the ratio of log-survivals until the seed strategy's simulated
    cure rates are the history's."""
    target = np.clip(fitted.cure(), 0.0, 0.999)
    hazard = 1 - (1 - target) ** (1 / MONTH)
    model = Model(fitted, hazard, _roll_rows(fitted), priors or Priors(), floor or Floor())
    for _ in range(rounds):
        out = simulate(model, SEED, cases=cases, days=3 * MONTH, seed=seed)
        got = _cure_of(out.cells)
        enough = out.cells.sum(axis=2) >= 50
        ratio = np.log1p(-target) / np.log1p(-np.clip(got, 1e-6, 0.999))
        ratio = np.where(enough & (got > 0), np.clip(ratio, 0.2, 5.0), 1.0)
        from dataclasses import replace

        model = replace(model, hazard=np.clip(model.hazard * ratio, 0.0, 0.5))
    return model


def _cure_of(cells: IntArray) -> FloatArray:
    rows = cells.sum(axis=2)
    out: FloatArray = np.zeros(rows.shape)
    np.divide(cells[:, :, 0], rows, out=out, where=rows > 0)
    return out


@dataclass
class _Book:
    """The state of every case, one array element per case."""

    seg: IntArray
    bucket: IntArray
    balance: IntArray
    opened: IntArray
    contacts: IntArray
    hardship: npt.NDArray[np.bool_]
    closed: npt.NDArray[np.bool_]
    month_start: IntArray  # bucket at the start of the case's current month
    sms_until: IntArray
    promise_until: IntArray
    contact_effect: npt.NDArray[np.bool_]
    hardship_known: npt.NDArray[np.bool_]
    plan_offered: npt.NDArray[np.bool_]
    plan_next: IntArray  # day of the next plan instalment, -1: no active plan
    plan_left: IntArray
    plan_keep: FloatArray


def _book(model: Model, cases: int, rng: np.random.Generator) -> _Book:
    f = model.fit
    pick = rng.integers(0, len(f.entry_bucket), cases)
    n = cases
    hardship = rng.random(n) < model.priors.hardship_share
    # designated contacts as the synthetic portfolio has them (none 15%, one 57%, two 28%),
    # each with consent 95%: the cn pack reaches only those who consented
    given = np.where(rng.random(n) < 0.85, 1 + (rng.random(n) < 1 / 3), 0)
    contacts = rng.binomial(given, 0.95)
    return _Book(
        seg=f.entry_segment[pick].copy(),
        bucket=f.entry_bucket[pick].copy(),
        balance=f.entry_balance[pick].copy(),
        opened=rng.integers(0, MONTH, n),
        contacts=contacts.astype(np.int64),
        hardship=hardship,
        closed=np.zeros(n, bool),
        month_start=f.entry_bucket[pick].copy(),
        sms_until=np.full(n, -1),
        promise_until=np.full(n, -1),
        contact_effect=np.zeros(n, bool),
        hardship_known=np.zeros(n, bool),
        plan_offered=np.zeros(n, bool),
        plan_next=np.full(n, -1),
        plan_left=np.zeros(n, np.int64),
        plan_keep=np.zeros(n),
    )


@dataclass
class _Tally:
    recovered: int = 0
    cost: int = 0
    calls: int = 0
    contact_outreaches: int = 0
    complaints: int = 0
    sms: int = 0
    dropped: int = 0


def _capacity(
    want: npt.NDArray[np.bool_], priority: IntArray, budget: int, rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """The wanted actions the day's budget allows, most urgent first, ties at random."""
    idx = want.nonzero()[0]
    if len(idx) <= budget:
        return want
    order = np.lexsort((rng.random(len(idx)), priority[idx]))
    done = np.zeros_like(want)
    done[idx[order[:budget]]] = True
    return done


def simulate(model: Model, params: Params, *, cases: int, days: int, seed: int) -> Outcome:
    """Run `cases` new cases (opening over the first month) for `days` days under `params`."""
    rng = np.random.default_rng(seed)
    p, fl = model.priors, model.floor
    b = _book(model, cases, rng)
    k = len(model.fit.labels)
    cells = np.zeros_like(model.fit.counts)
    tally = _Tally()
    call_days = np.array(
        [params.first_call_day, *(d for d in params.call_days if d > params.first_call_day)]
    )
    sms_days = np.array(params.sms_days or (-1,))
    for t in range(days):
        d = t - b.opened
        live = (d >= 0) & ~b.closed
        in_plan = b.plan_next >= 0
        busy = (b.promise_until >= t) | in_plan
        _plan_instalments(b, t, in_plan & live, rng, tally, cells, days)
        sms = _capacity(live & ~busy & np.isin(d, sms_days), d, fl.sms_per_day_for(cases), rng)
        b.sms_until[sms] = t + p.sms_window
        tally.sms += int(sms.sum())
        tally.cost += int(sms.sum()) * fl.sms_cost
        _calls_and_plans(
            model, params, b, t, d, live & ~busy, np.isin(d, call_days), cases, rng, tally
        )
        _cure_and_roll(model, b, t, d, live & (b.plan_next < 0), rng, tally, cells, days, k)
    return Outcome(
        cases,
        int(b.balance.sum()),
        tally.recovered,
        tally.cost,
        tally.calls,
        tally.contact_outreaches,
        tally.complaints,
        tally.sms,
        tally.dropped,
        cells,
    )


def _calls_and_plans(
    model: Model,
    params: Params,
    b: _Book,
    t: int,
    d: IntArray,
    free: npt.NDArray[np.bool_],
    call_day: npt.NDArray[np.bool_],
    cases: int,
    rng: np.random.Generator,
    tally: _Tally,
) -> None:
    p, fl = model.priors, model.floor
    plan_due = b.hardship_known | (
        (params.plan_from_day is not None) & (d >= (params.plan_from_day or 0))
    )
    plan_want = free & ~b.plan_offered & plan_due
    call_want = free & call_day & ~plan_want
    priority = np.where(plan_want, 20, np.where(d == params.first_call_day, 10, 40))
    budget = fl.calls_per_day(cases)
    work = _capacity(plan_want | call_want, priority, budget, rng)
    tally.dropped += int((plan_want | call_want).sum() - work.sum())
    plans, calls = work & plan_want, work & call_want
    _offer_plans(model, b, t, plans, rng, tally)
    tally.calls += int(calls.sum())
    tally.cost += int(calls.sum()) * fl.call_cost
    tally.complaints += int((calls & (rng.random(len(d)) < p.call_complaint)).sum())
    answered = calls & (rng.random(len(d)) < p.answer_rate)
    b.hardship_known |= answered & b.hardship
    b.promise_until[answered & ~b.hardship] = t + p.call_window
    # the borrower was unreachable: the strategy may reach the designated contacts
    left = max(0, budget - int(work.sum()))
    if params.contact_from_day is None:
        return
    want = (
        calls
        & ~answered
        & (b.contacts > 0)
        & (d >= (params.contact_from_day or 0))
        & (b.seg >= params.contact_min_band)
    )
    reach = _capacity(want, np.zeros(len(d), np.int64), left, rng)
    tally.dropped += int(want.sum() - reach.sum())
    outreaches = int(b.contacts[reach].sum())
    tally.contact_outreaches += outreaches
    tally.calls += outreaches
    tally.cost += outreaches * fl.call_cost
    miss_all = (1 - p.contact_reach) ** b.contacts
    reached = reach & (rng.random(len(d)) >= miss_all)
    b.contact_effect |= reached
    b.hardship_known |= reached & b.hardship
    complaint = 1 - (1 - p.contact_complaint) ** b.contacts
    tally.complaints += int((reach & (rng.random(len(d)) < complaint)).sum())
    b.contacts[reach] -= rng.binomial(b.contacts[reach], p.contact_refuses)  # refusal is final


def _offer_plans(
    model: Model,
    b: _Book,
    t: int,
    offered: npt.NDArray[np.bool_],
    rng: np.random.Generator,
    tally: _Tally,
) -> None:
    p = model.priors
    b.plan_offered |= offered
    tally.cost += int(offered.sum()) * model.floor.plan_cost
    accept = np.where(b.hardship, p.plan_accept_hardship, p.plan_accept_other)
    agreed = offered & (rng.random(len(accept)) < accept)
    b.plan_next[agreed] = t + 7
    b.plan_left[agreed] = 3
    b.plan_keep[agreed] = np.where(b.hardship, p.plan_keep_hardship, p.plan_keep_other)[agreed]


def _plan_instalments(
    b: _Book,
    t: int,
    in_plan: npt.NDArray[np.bool_],
    rng: np.random.Generator,
    tally: _Tally,
    cells: IntArray,
    days: int,
) -> None:
    """Three instalments a fortnight apart, each a third of the balance; the last one brings the
    case back to current; a missed one breaks the plan."""
    due = in_plan & (b.plan_next == t)
    kept = due & (rng.random(len(due)) < b.plan_keep)
    tally.recovered += int((b.balance[kept] // 3).sum())
    b.plan_left[kept] -= 1
    b.plan_next[kept] = t + 14
    done = kept & (b.plan_left == 0)
    tally.recovered += int((b.balance[done] - 3 * (b.balance[done] // 3)).sum())
    b.plan_next[done | (due & ~kept)] = -1
    b.closed |= done


def _cure_and_roll(
    model: Model,
    b: _Book,
    t: int,
    d: IntArray,
    live: npt.NDArray[np.bool_],
    rng: np.random.Generator,
    tally: _Tally,
    cells: IntArray,
    days: int,
    k: int,
) -> None:
    p = model.priors
    lift = (
        (1 + p.sms_lift * (b.sms_until >= t))
        * (1 + p.call_lift * (b.promise_until >= t))
        * (1 + p.contact_lift * b.contact_effect)
        * np.where(b.hardship, p.hardship_hazard, 1.0)
    )
    hazard = np.clip(model.hazard[b.seg, b.bucket] * lift, 0.0, 1.0)
    month_end = b.opened + (d // MONTH + 1) * MONTH - 1  # the last day of the case's month
    counted = month_end < days  # only months that end inside the run are tallied
    cured = live & (rng.random(len(d)) < hazard)
    tally.recovered += int(b.balance[cured].sum())
    b.closed |= cured
    np.add.at(cells, (b.seg[cured & counted], b.month_start[cured & counted], 0), 1)
    ends = live & ~cured & (d % MONTH == MONTH - 1)
    if ends.any():
        rows = model.roll[b.seg[ends], b.bucket[ends]]
        nxt = (rows.cumsum(axis=1) < rng.random(len(rows))[:, None]).sum(axis=1)
        nxt = np.minimum(nxt, k - 1)
        np.add.at(cells, (b.seg[ends], b.month_start[ends], nxt), 1)
        stay = model.fit.paid_stay[b.seg[ends], b.bucket[ends]]
        tally.recovered += int(np.rint(stay * b.balance[ends]).sum())
        b.bucket[ends] = nxt
        b.month_start[ends] = nxt
