"""Score quality on the Taiwan book's time holdout, against a logistic-regression baseline.

Converts the full UCI file (30,000 clients, April–September 2005) into the history format,
trains `p_pay_30` and `p_self_cure` on the months scored April–July (outcomes May–August) and
tests on August (outcome September). The baseline is a logistic regression on the same
features, fitted and tested in the same run. The RESULT line gives `p_pay_30`'s figures; the
self-cure score's follow with the `cure_` prefix.

    .venv/bin/python bench/lab.py [--source PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from arrears.lab import scores, taiwan
from arrears.lab.history import load_history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=taiwan.source_path())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.csv"
        started = time.perf_counter()
        rows = taiwan.convert(args.source, path)
        history = load_history(path)
        print(f"history: {rows} rows, {len(history.account_ids)} accounts, {history.span()}, "
              f"converted and loaded in {time.perf_counter() - started:.1f}s")  # fmt: skip
    results = {}
    for score in scores.Score:
        started = time.perf_counter()
        ev = scores.train(history, score).evaluation
        print(f"\n{score}: trained on {', '.join(ev.train_months)}; tested on {ev.test_month} "
              f"({ev.model.n} delinquent accounts, outcome rate {ev.model.positive_rate:.3f}); "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        print(f"  {'':<28}{'AUC':>7}{'KS':>7}{'Brier':>8}")
        for name, m in (
            ("calibrated gradient boosting", ev.model),
            ("logistic baseline", ev.baseline),
        ):
            print(f"  {name:<28}{m.auc:>7.3f}{m.ks:>7.3f}{m.brier:>8.4f}")
        print("  calibration (deciles of the score): predicted → observed, n")
        for row in ev.calibration:
            print(f"    {row['predicted']:.3f} → {row['observed']:.3f}  n={row['n']}")
        results[score] = ev
    pay, cure = results[scores.Score.P_PAY_30], results[scores.Score.P_SELF_CURE]
    print(
        f"RESULT auc={pay.model.auc:.4f} ks={pay.model.ks:.4f} brier={pay.model.brier:.4f} "
        f"baseline_auc={pay.baseline.auc:.4f} baseline_ks={pay.baseline.ks:.4f} "
        f"baseline_brier={pay.baseline.brier:.4f} cure_auc={cure.model.auc:.4f} "
        f"cure_ks={cure.model.ks:.4f} cure_brier={cure.model.brier:.4f} "
        f"cure_baseline_auc={cure.baseline.auc:.4f} cure_baseline_ks={cure.baseline.ks:.4f} "
        f"cure_baseline_brier={cure.baseline.brier:.4f}"
    )


if __name__ == "__main__":
    main()
