"""`arrears lab …` — the strategy lab for the risk analyst and the strategist: roll rates from a
performance history, the out-of-sample check, response rates, scores.

Other lab modules (`arrears/cli/lab_*.py`) add their commands to `lab_app`, decorated at module
level (`@lab_app.command("simulate")`); `register` imports them, since the command line loads
only this module when `arrears lab …` runs.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import typer

import arrears.cli
from arrears.lab import roll_rates as rr
from arrears.lab.history import History, HistoryInvalid, load_history

lab_app = typer.Typer(help="Strategy lab: roll rates, scores, simulation.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    for info in pkgutil.iter_modules(arrears.cli.__path__):
        if info.name.startswith("lab_"):
            importlib.import_module(f"arrears.cli.{info.name}")
    app.add_typer(lab_app, name="lab")


def _history(path: Path, currency: str | None) -> History:
    try:
        return load_history(path, currency)
    except HistoryInvalid as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"cannot read the history {path}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None


def _pct(value: float) -> str:
    return "-" if np.isnan(value) else f"{value * 100:.1f}%"


def _render_matrix(m: rr.MonthMatrix) -> str:
    width = max(8, *(len(str(c)) + 1 for c in m.counts.flat))
    head = "from\\to".ljust(7) + "".join(lb.rjust(width) for lb in m.labels)
    lines = [
        f"{m.start} → {m.end}  ({int(m.counts.sum())} accounts in both months)",
        "counts",
        head + "total".rjust(width),
    ]
    for i, label in enumerate(m.labels):
        cells = "".join(str(c).rjust(width) for c in m.counts[i])
        lines.append(label.ljust(7) + cells + str(int(m.totals[i])).rjust(width))
    lines += ["rates (share of the row)", head + "cure".rjust(width)]
    rates, cure = m.rates, m.cure_rates
    for i, label in enumerate(m.labels):
        cells = "".join(_pct(r).rjust(width) for r in rates[i])
        lines.append(label.ljust(7) + cells + _pct(cure[i]).rjust(width))
    return "\n".join(lines)


def _render_prediction(p: rr.Prediction) -> str:
    o = p.observed
    lines = [
        f"calibrated on {p.calibration[0]} to {p.calibration[-1]} "
        f"({len(p.calibration) - 1} month pairs, pooled probabilities), "
        f"applied to the {o.start} bucket counts",
        f"predicted {o.start} → {o.end} against observed, per cell (error = predicted − observed)",
        f"{'cell':<12}{'predicted':>12}{'observed':>10}{'error':>11}{'rate err':>10}",
    ]
    for i, a in enumerate(o.labels):
        for j, b in enumerate(o.labels):
            if p.predicted[i, j] == 0 and o.counts[i, j] == 0:
                continue
            lines.append(
                f"{a + '→' + b:<12}{p.predicted[i, j]:>12.1f}{int(o.counts[i, j]):>10}"
                f"{p.error[i, j]:>+11.1f}{p.rate_error[i, j] * 100:>+9.1f}%"
            )
    lines.append(f"mean absolute error: {p.mean_absolute_error * 100:.2f}% of the accounts")
    return "\n".join(lines)


def _summary(history: History, matrices: list[rr.MonthMatrix]) -> dict[str, Any]:
    vintages = rr.vintage_curves(history)
    return {
        "currency": history.currency,
        "months": list(history.months),
        "accounts": len(history.account_ids),
        "matrices": [m.as_dict() for m in matrices],
        "flow_to_write_off_12m": dict(
            zip(history.labels, np.round(rr.flow_to_write_off(matrices), 6).tolist(), strict=True)
        ),
        "vintages": {
            "threshold": vintages.threshold,
            "vintages": list(vintages.vintages),
            "shares": rr.json_rates(vintages.shares),
            "reason": vintages.reason,
        },
    }


@lab_app.command("roll-rates")
def roll_rates(
    history_file: Path = typer.Option(..., "--history", help="Performance history CSV."),
    currency: str = typer.Option(None, "--currency", help="Currency when the file has none."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    calibrate_through: str = typer.Option(
        None, "--calibrate-through", help="Last month (YYYY-MM) of the calibration window."
    ),
    calibrate_from: str = typer.Option(
        "", "--calibrate-from", help="First month of the calibration window (default: first)."
    ),
    predict: str = typer.Option(
        None, "--predict", help="Month (YYYY-MM) whose incoming matrix to predict."
    ),
) -> None:
    """Bucket-to-bucket transition matrices by month with counts and rates, cure rates, flow to
    write-off; with --calibrate-through and --predict, the out-of-sample check."""
    history = _history(history_file, currency)
    matrices = rr.transition_matrices(history)
    if not matrices:
        typer.echo(f"the history covers one month ({history.span()}): no transitions", err=True)
        raise typer.Exit(2)
    prediction = None
    if (calibrate_through is None) != (predict is None):
        raise typer.BadParameter("give --calibrate-through and --predict together")
    if calibrate_through is not None:
        try:
            prediction = rr.predict(matrices, calibrate_through, predict, calibrate_from)
        except (rr.PredictionInvalid, ValueError) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
    if as_json:
        out = _summary(history, matrices)
        if prediction is not None:
            out["prediction"] = prediction.as_dict()
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(f"history: {len(history.account_ids)} accounts, {history.span()}\n")
    for m in matrices:
        typer.echo(_render_matrix(m) + "\n")
    flow = rr.flow_to_write_off(matrices)
    typer.echo(f"flow to write-off ({history.labels[-1]}) within 12 months, pooled:")
    typer.echo("  ".join(f"{lb} {_pct(f)}" for lb, f in zip(history.labels, flow, strict=True)))
    vintages = rr.vintage_curves(history)
    if vintages.reason:
        typer.echo(f"vintage curves: none — {vintages.reason}")
    if prediction is not None:
        typer.echo("\n" + _render_prediction(prediction))


@lab_app.command("train-score")
def train_score(
    history_file: Path = typer.Option(..., "--history", help="Performance history CSV."),
    currency: str = typer.Option(None, "--currency", help="Currency when the file has none."),
    models: Path = typer.Option(
        Path(".arrears/models"), "--models", help="Directory the versioned models go to."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train p_pay_30 and p_self_cure on the history (time holdout: the last month with an
    outcome), print AUC, KS, Brier against a logistic baseline and the calibration table,
    and store each model with its hash and metrics."""
    from dataclasses import asdict

    from arrears.lab import scores

    history = _history(history_file, currency)
    out = []
    for score in scores.Score:
        try:
            trained = scores.train(history, score)
        except scores.ScoreDataInvalid as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        stored = scores.save(trained, models)
        ev = trained.evaluation
        out.append({"version": stored.version, "sha256": stored.sha256, **asdict(ev)})
        if not as_json:
            typer.echo(_render_evaluation(ev, stored))
    if as_json:
        typer.echo(json.dumps(out, indent=2, default=str))


def _render_evaluation(ev: Any, stored: Any) -> str:
    lines = [
        f"{ev.score}  version {stored.version}  sha256 {stored.sha256}",
        f"  trained on {', '.join(ev.train_months)}; tested on {ev.test_month} "
        f"({ev.model.n} delinquent accounts, outcome rate {ev.model.positive_rate:.3f})",
        f"  {'':<20}{'AUC':>7}{'KS':>7}{'Brier':>8}",
    ]
    for name, m in (("model", ev.model), ("logistic baseline", ev.baseline)):
        lines.append(f"  {name:<20}{m.auc:>7.3f}{m.ks:>7.3f}{m.brier:>8.4f}")
    lines.append("  calibration: score decile, mean predicted, observed, accounts")
    for row in ev.calibration:
        lines.append(
            f"    {row['low']:.3f}-{row['high']:.3f}  {row['predicted']:.3f}  "
            f"{row['observed']:.3f}  {row['n']}"
        )
    lines.append(f"  stored: {stored.path}")
    return "\n".join(lines) + "\n"


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r} is not a date; write YYYY-MM-DD") from None


@lab_app.command("response-rates")
def response_rates(
    ctx: typer.Context,
    start: str = typer.Option(..., "--from", help="First business date YYYY-MM-DD."),
    end: str = typer.Option(..., "--to", help="Last business date YYYY-MM-DD (inclusive)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Right-party contact, promise-kept and payment-within-7-days rates by action, channel and
    DPD bucket, from the platform's own interactions."""
    from arrears.cli import app_of
    from arrears.lab import response_rates as rates

    first, last = _day(start, "--from"), _day(end, "--to")
    try:
        with app_of(ctx).engine.connect() as conn:
            rows = rates.response_rates(conn, first, last)
    except rates.WindowInvalid as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        typer.echo(f"no interactions between {first} and {last}")
        return
    typer.echo(
        f"{'action':<22}{'channel':<8}{'bucket':<7}{'attempts':>9}{'RPC':>8}"
        f"{'promises':>9}{'kept':>8}{'paid 7d':>9}"
    )
    for r in rows:
        typer.echo(
            f"{r.action:<22}{r.channel:<8}{r.bucket:<7}{r.attempts:>9}"
            f"{_share(r.right_party_rate):>8}{r.promises:>9}{_share(r.promise_kept_rate):>8}"
            f"{_share(r.payment_rate):>9}"
        )
    typer.echo(
        "RPC: right-party contacts per attempt on the borrower; kept: among promises already "
        "kept, partly kept or broken; paid 7d: a payment from the borrower within 7 days."
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


@lab_app.command("score")
def score_cases(
    ctx: typer.Context,
    as_of: str = typer.Option(..., "--as-of", help="Business date YYYY-MM-DD."),
) -> None:
    """Score every open case as of the date (p_pay_30, p_self_cure, reasons) into lab_scores,
    in one batch, with the models approved for the date (`arrears lab model`); re-running the
    date replaces its scores."""
    from arrears.cli import app_of
    from arrears.lab import models
    from arrears.lab.scores import ModelTampered

    day = _day(as_of, "--as-of")
    try:
        with app_of(ctx).engine.begin() as conn:
            batch = models.score_with_approved(conn, day)
    except (models.ModelNotApproved, ModelTampered) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"scored {batch.cases} open cases as of {batch.as_of} "
        f"with {batch.pay_model} and {batch.cure_model}"
    )
