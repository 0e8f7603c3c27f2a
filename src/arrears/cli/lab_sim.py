"""`arrears lab simulate` and `arrears lab optimise`: the simulator calibrated to a performance
history (its fit, the out-of-sample check, the seed strategy reproduced, the sensitivity to the
priors; with --engine the real nightly run and floor on the calibrated behaviour), and the
optimiser's Pareto front and strategy file."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import replace
from pathlib import Path

import typer

from arrears.bootstrap import bootstrap
from arrears.cli import app_of
from arrears.cli.lab import _history, lab_app
from arrears.config import Settings
from arrears.lab import optimise as opt
from arrears.lab import simulate as sim
from arrears.lab import taiwan
from arrears.lab.history import History, read_history
from arrears.strategy import loader

ENGINE_DB = Path(".arrears/lab-engine.db")
CONTACT_SCALES = (0.0, 0.5, 1.0, 2.0)


def taiwan_history() -> History:
    """The UCI Taiwan book converted in memory to the history format."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(taiwan.HEADER)
    writer.writerows(taiwan.history_rows(taiwan.source_path()))
    buffer.seek(0)
    return read_history(buffer, "taiwan-history.csv")


def _load(history_file: Path | None, currency: str | None) -> History:
    return taiwan_history() if history_file is None else _history(history_file, currency)


def _fit(history: History, through: str) -> sim.Fit:
    try:
        return sim.fit(history, through)
    except (sim.CalibrationInvalid, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


HISTORY = typer.Option(
    None, "--history", help="Performance history CSV (default: the Taiwan book, converted)."
)
CURRENCY = typer.Option(None, "--currency", help="Currency when the file has none.")
THROUGH = typer.Option("2005-08", "--calibrate-through", help="Last month of the calibration.")


def render_fit(model: sim.Model, reproduced: sim.Outcome) -> str:
    """The fitted cure rate per segment and bucket, with its count, against the seed strategy's
    simulated one."""
    f = model.fit
    got = sim._cure_of(reproduced.cells)
    lines = ["cure within a month: fitted (account-months) against the seed strategy simulated"]
    for s, name in enumerate(sim.SEGMENTS):
        cells = []
        for i, label in enumerate(f.labels[1:], start=1):
            n = int(f.counts[s, i].sum())
            if n >= sim.MIN_ROW:
                simulated = "-" if reproduced.cells[s, i].sum() < 50 else f"{100 * got[s, i]:.1f}"
                cells.append(f"{label} {100 * f.cure()[s, i]:.1f}% (n={n}) sim {simulated}%")
        lines.append(f"  {name:<5} " + "; ".join(cells))
    return "\n".join(lines)


@lab_app.command("simulate")
def simulate_command(
    ctx: typer.Context,
    history_file: Path = HISTORY,
    currency: str = CURRENCY,
    through: str = THROUGH,
    target: str = typer.Option("2005-09", "--predict", help="Month to predict out of sample."),
    cases: int = typer.Option(2000, help="Cases simulated (new delinquencies over a month)."),
    days: int = typer.Option(60, help="Days simulated."),
    seeds: int = typer.Option(20, help="Repeated runs, for the intervals."),
    engine: bool = typer.Option(
        False, "--engine", help="Also run the real nightly run, gate and floor (the demo's loop)."
    ),
    strategy: str = typer.Option("seed", help="With --engine: the strategy the days run under."),
    borrowers: int = typer.Option(500, help="With --engine: synthetic borrowers."),
) -> None:
    """Calibrate the simulator to the history; print the fit, the out-of-sample check, the seed
    strategy reproduced, and the sensitivity of the seed's results to the contact prior."""
    history = _load(history_file, currency)
    fitted = _fit(history, through)
    model = sim.calibrate(fitted)
    try:
        typer.echo(sim.render_check(sim.check(history, through, target)) + "\n")
    except (sim.CalibrationInvalid, ValueError) as exc:
        typer.echo(f"out-of-sample check skipped: {exc}\n")
    reproduced = sim.simulate(model, sim.SEED, cases=20_000, days=90, seed=99)
    typer.echo(render_fit(model, reproduced) + "\n")
    typer.echo(f"the seed strategy, {cases} cases x {days} days, {seeds} seeds:")
    typer.echo(_sensitivity(fitted, sim.SEED, cases, days, seeds))
    if engine:
        _engine(ctx, borrowers, days, strategy)


def _sensitivity(fitted: sim.Fit, params: sim.Params, cases: int, days: int, seeds: int) -> str:
    """Recalibrated under each contact prior: the strategy's recovery, and what dropping its
    contact-person outreach would change (paired over the seeds)."""
    quiet = replace(params, contact_from_day=None)
    lines = [
        f"{'contact prior':>14}  {'recovery %':>20}  {'contacts/case':>20}  {'no contacts':>22}"
    ]
    for scale in CONTACT_SCALES:
        model = sim.calibrate(fitted, sim.Priors().scaled(scale))
        e = opt.evaluate(model, params, range(seeds), cases, days)
        q = opt.evaluate(model, quiet, range(seeds), cases, days)
        rec = e.metric(lambda o: 100 * o.recovered / o.at_stake)
        contact = e.metric(lambda o: o.per_case(o.contact_outreaches))
        diff = opt.compare(q, e).recovery_diff_pct
        lines.append(
            f"{scale:>13}x  {opt._iv(rec, 1):>20}  {opt._iv(contact, 2):>20}  "
            f"{opt._iv(diff, 1):>20} %"
        )
    return "\n".join(lines)


def _engine(ctx: typer.Context, borrowers: int, days: int, strategy: str) -> None:
    """The demo's loop on a fresh database: the real import, nightly run, gate, dispatch and
    floor, with the borrowers behaving as calibrated (arrears.sim.behaviour)."""
    from arrears.sim.demo import run_demo

    wired = app_of(ctx)
    ENGINE_DB.parent.mkdir(parents=True, exist_ok=True)
    ENGINE_DB.unlink(missing_ok=True)
    wired = bootstrap(replace(wired.settings, database_url=f"sqlite:///{ENGINE_DB}"))
    began = time.monotonic()
    result = run_demo(wired, borrowers=borrowers, days=days, seed=7, strategy=strategy)
    r = result.report
    typer.echo(
        f"\nthe real engine, {borrowers} borrowers x {days} days under {strategy} "
        f"({time.monotonic() - began:.0f} s): {r.cases_opened} cases opened, "
        f"{r.cases_cured} cured, recovery {float(r.recovery_rate) * 100:.1f}% of the overdue "
        f"at opening, day-one contact-person reach {float(r.day1_contact_rate) * 100:.1f}%"
    )


@lab_app.command("optimise")
def optimise_command(
    history_file: Path = HISTORY,
    currency: str = CURRENCY,
    through: str = THROUGH,
    out: Path = typer.Option(Path("lab_best.yaml"), "--out", help="The strategy file written."),
    name: str = typer.Option("lab_best", help="The strategy's name."),
    cases: int = typer.Option(2000, help="Cases per simulated run."),
    days: int = typer.Option(60, help="Days per simulated run."),
    seeds: int = typer.Option(20, help="Seeds for the front and the comparison (>= 20)."),
    candidates: int = typer.Option(150, help="Strategies screened."),
    contact_scale: float = typer.Option(1.0, help="The contact-person prior, times."),
    pdf: Path = typer.Option(None, "--pdf", help="Also write the report as a PDF."),
    report: Path = typer.Option(
        None,
        "--report",
        help="The report as JSON, which the strategist's web page shows "
        "(default: ARREARS_LAB_REPORT, .arrears/lab/optimise.json).",
    ),
) -> None:
    """Search strategy parameters on the calibrated simulator; print the Pareto front and the
    best strategy against the seed; write the best as a strategy file."""
    history = _load(history_file, currency)
    model = sim.calibrate(_fit(history, through), sim.Priors().scaled(contact_scale))
    result = opt.search(
        model, seeds=list(range(seeds)), cases=cases, days=days, candidates=candidates
    )
    typer.echo(opt.render_front(result, history.currency) + "\n")
    comparison = opt.compare(result.best, result.seed)
    typer.echo(opt.render_comparison(comparison))
    if pdf is not None:
        opt.write_pdf(result, comparison, history.currency, str(pdf))
        typer.echo(f"wrote {pdf}")
    text = opt.to_yaml(result.best.params, name, history.currency, opt.describe(result.best.params))
    loader.loads(text, str(out))  # refuse to write a file the platform would not load
    out.write_text(text, encoding="utf-8")
    typer.echo(f"\nwrote {out}; check it with: arrears strategy check {out}")
    target = report or Settings.from_env().lab_report
    target.parent.mkdir(parents=True, exist_ok=True)
    data = opt.report(result, comparison, history.currency, strategy=name, file=str(out))
    target.write_text(json.dumps(data, indent=2), encoding="utf-8")
    typer.echo(f"wrote {target} (the strategist's page: /lab/optimiser)")
