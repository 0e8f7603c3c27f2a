"""The optimiser's best strategy against the seed strategy, on the simulator calibrated to the
Taiwan history (April–August 2005), under the cn pack's contact rules.

    .venv/bin/python bench/lab_optimise.py [--seeds 20] [--cases 2000] [--days 60]
                                           [--candidates 150]

A sample: each run simulates 2,000 new delinquent cases over 60 days (not the whole 30,000-
client book), and the search screens 150 of the parameter space's strategies on 4 seeds before
the Pareto front is run on every seed. The baseline in the same run is the seed strategy, on
the same seeds (paired differences). Then the sensitivity to the priors: the simulator is
recalibrated with each prior scaled and the same two strategies compared again. Ends with one
line `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from arrears.cli.lab_sim import taiwan_history
from arrears.lab import optimise as opt
from arrears.lab import simulate as sim
from arrears.strategy import loader

SCENARIOS = {
    "contact x0.5": lambda p: p.scaled(0.5),
    "contact x1 (the prior)": lambda p: p,
    "contact x2": lambda p: p.scaled(2.0),
    "contact x-1 (harms, as Yang et al.)": lambda p: p.scaled(-1.0),
    "call lift x0.5": lambda p: replace(p, call_lift=p.call_lift * 0.5),
    "call lift x2": lambda p: replace(p, call_lift=p.call_lift * 2),
    "sms lift x0.5": lambda p: replace(p, sms_lift=p.sms_lift * 0.5),
    "sms lift x2": lambda p: replace(p, sms_lift=p.sms_lift * 2),
    "plan acceptance (not hardship) x0.5": lambda p: replace(
        p, plan_accept_other=p.plan_accept_other * 0.5
    ),
    "plan acceptance (not hardship) x0": lambda p: replace(p, plan_accept_other=0.0),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--candidates", type=int, default=150)
    args = ap.parse_args()
    began = time.monotonic()
    history = taiwan_history()
    fitted = sim.fit(history, "2005-08")
    model = sim.calibrate(fitted)
    seeds = list(range(args.seeds))
    result = opt.search(
        model, seeds=seeds, cases=args.cases, days=args.days, candidates=args.candidates
    )
    print(opt.render_front(result, history.currency) + "\n")
    c = opt.compare(result.best, result.seed)
    print(opt.render_comparison(c) + "\n")
    text = opt.to_yaml(result.best.params, "lab_best", history.currency, "bench")
    loader.loads(text)  # the platform loads it
    print("sensitivity: recalibrated under each prior, the same best against the seed")
    print(f"{'prior':<38}{'recovery diff %':>24}{'contacts/case seed':>22}{'best':>8}")
    worst = c.recovery_diff_pct.low
    for label, change in SCENARIOS.items():
        m = sim.calibrate(fitted, change(sim.Priors()))
        best = opt.evaluate(m, result.best.params, seeds, args.cases, args.days)
        base = opt.evaluate(m, sim.SEED, seeds, args.cases, args.days)
        s = opt.compare(best, base)
        worst = min(worst, s.recovery_diff_pct.low)
        print(
            f"{label:<38}{opt._iv(s.recovery_diff_pct, 1):>24}"
            f"{s.contact_seed.mean:>22.2f}{s.contact_best.mean:>8.2f}"
        )
    elapsed = time.monotonic() - began
    r = c.recovery_diff_pct
    print(
        f"RESULT seeds={c.seeds} cases={args.cases} days={args.days} "
        f"recovery_diff_pct={r.mean:.1f} recovery_ci=[{r.low:.1f},{r.high:.1f}] "
        f"contact_outreach_per_case_seed={c.contact_seed.mean:.3f} "
        f"contact_outreach_per_case_seed_ci=[{c.contact_seed.low:.3f},{c.contact_seed.high:.3f}] "
        f"contact_outreach_per_case_best={c.contact_best.mean:.3f} "
        f"contact_outreach_per_case_best_ci=[{c.contact_best.low:.3f},{c.contact_best.high:.3f}] "
        f"contact_cut_pct={c.contact_cut_pct:.0f} aim_met={c.aim_met()} "
        f"worst_sensitivity_recovery_low={worst:.1f} seconds={elapsed:.0f}"
    )


if __name__ == "__main__":
    main()
