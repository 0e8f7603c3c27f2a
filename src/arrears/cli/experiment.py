"""`arrears experiment report | simulate` — champion against challenger."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import typer

from arrears.analytics.experiments import experiment_report, render
from arrears.bootstrap import bootstrap
from arrears.cli import app_of
from arrears.services import strategies
from arrears.strategy import loader

SIM_DB = Path(".arrears/experiment.db")
SIM_OUTBOX = Path(".arrears/experiment-outbox")


def _variants(name: str) -> list[tuple[str, int]]:
    try:
        strategy = loader.load(name)
    except (loader.StrategyUnknown, loader.StrategyInvalid):
        return []
    return [(v.name, v.share) for v in strategy.variants]


def register(app: typer.Typer) -> None:
    ex = typer.Typer(help="Champion/challenger experiments.", no_args_is_help=True)
    app.add_typer(ex, name="experiment")

    @ex.command("report")
    def report(
        ctx: typer.Context,
        strategy: str = typer.Option(
            ..., "--strategy", help="Strategy name, e.g. seed_challenger_day3."
        ),
        as_of: str = typer.Option(..., "--as-of", help="Business date YYYY-MM-DD."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Per variant: cases, cure rate at 30 days, recovered / overdue, contacts per case,
        PTP kept rate — with 95% intervals and a test of each challenger against the champion."""
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(f"{as_of!r} is not a date; write YYYY-MM-DD") from None
        with app_of(ctx).engine.connect() as conn:
            shares = strategies.shares_of(conn, strategy, day) or _variants(strategy)
            result = experiment_report(conn, strategy, day, shares)
        if as_json:
            typer.echo(json.dumps(result.as_dict(), indent=2))
        elif not result.variants or all(v.cases == 0 for v in result.variants):
            typer.echo(
                f"no cases under strategy {strategy!r} by {day}; run the days with it first "
                f"(arrears run-day --as-of D, or arrears experiment simulate)"
            )
        else:
            typer.echo(render(result))

    @ex.command("simulate")
    def simulate(
        ctx: typer.Context,
        strategy: str = typer.Option("seed_challenger_day3", help="Strategy with the variants."),
        borrowers: int = typer.Option(3000, help="Synthetic borrowers."),
        days: int = typer.Option(75, help="Business days to simulate."),
        seed: int = typer.Option(7, help="Random seed."),
    ) -> None:
        """Run the synthetic portfolio through the loop under STRATEGY, then report it."""
        from arrears.services.schema import upgrade_schema
        from arrears.sim.demo import deliver_to_files
        from arrears.sim.floor import Floor
        from arrears.sim.load import load_portfolio
        from arrears.sim.portfolio import generate

        wired = app_of(ctx)
        if ctx.parent is None or ctx.parent.params.get("database") is None:
            SIM_DB.parent.mkdir(parents=True, exist_ok=True)
            SIM_DB.unlink(missing_ok=True)
            wired = bootstrap(replace(wired.settings, database_url=f"sqlite:///{SIM_DB}"))
        chosen = loader.load(strategy)
        upgrade_schema(wired.engine)
        start = date(2026, 9, 1)
        portfolio = generate(seed, borrowers, start, days)
        load_portfolio(wired.engine, wired.keyring, portfolio)
        floor = Floor(wired, portfolio, random.Random(seed), {})
        # the demo's dispatcher: each morning's outbox goes out into files beside the database
        shutil.rmtree(SIM_OUTBOX, ignore_errors=True)
        deliver = deliver_to_files(SIM_OUTBOX)
        typer.echo(f"{chosen.name}: {borrowers} borrowers, {days} days from {start}")
        for offset in range(days):
            d = start + timedelta(days=offset)
            wired.run_day(d, strategy=chosen)
            deliver(wired, d)
            floor.work_day(d)
            typer.echo(".", nl=False)
        typer.echo("")
        end = start + timedelta(days=days - 1)
        with wired.engine.connect() as conn:
            typer.echo(render(experiment_report(conn, chosen.name, end, _variants(strategy))))
