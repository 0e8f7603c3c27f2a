from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import typer

from arrears.analytics.experiments import render
from arrears.bootstrap import App, bootstrap
from arrears.cli import app_of
from arrears.domain.money import Money
from arrears.privacy.anchor import discard_sqlite
from arrears.sim.demo import DEFAULT_STRATEGY, DemoResult, deliver_to_files, run_demo

DEMO_DB = Path(".arrears/demo.db")
DEMO_OUTBOX = Path(".arrears/demo-outbox")


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        ctx: typer.Context,
        borrowers: int = typer.Option(2000, help="Synthetic borrowers."),
        days: int = typer.Option(60, help="Business days to simulate."),
        seed: int = typer.Option(7, help="Random seed; the same seed gives the same run."),
        strategy: str = typer.Option(
            DEFAULT_STRATEGY, help="Strategy with the variants (the first is the champion)."
        ),
        serve: bool = typer.Option(False, "--serve", help="Then open the web app on the data."),
        host: str = typer.Option("127.0.0.1", help="With --serve: the address to listen on."),
        port: int = typer.Option(8000, help="With --serve: the port to listen on."),
    ) -> None:
        """Simulate a portfolio through the collection loop and print what it achieved.

        Examples:

          arrears demo

          arrears --database sqlite:///demo.db demo --borrowers 500 --days 30 --serve
        """
        wired = app_of(ctx)
        if ctx.parent is None or ctx.parent.params.get("database") is None:
            DEMO_DB.parent.mkdir(parents=True, exist_ok=True)
            DEMO_DB.unlink(missing_ok=True)
            anchors = [wired.settings.key_file.parent, wired.settings.audit_anchor_dir]
            discard_sqlite(DEMO_DB, [a for a in anchors if a is not None])  # a new log
            shutil.rmtree(DEMO_OUTBOX, ignore_errors=True)
            wired = bootstrap(
                replace(
                    wired.settings,
                    database_url=f"sqlite:///{DEMO_DB}",
                    outbox_dir=DEMO_OUTBOX,
                )
            )
        outbox = wired.settings.outbox_dir
        typer.echo(
            f"arrears demo: {borrowers} borrowers, {days} days, seed {seed}, "
            f"strategy {strategy} (champion against challenger)"
        )
        typer.echo(
            f"database: {wired.settings.database_url}  rule pack: {wired.settings.rule_pack}"
        )
        began = time.monotonic()
        result = run_demo(
            wired,
            borrowers=borrowers,
            days=days,
            seed=seed,
            strategy=strategy,
            deliver=deliver_to_files(outbox, f"http://{host}:{port}"),
            progress=lambda d: typer.echo(".", nl=False),
        )
        typer.echo("")
        _print(result, time.monotonic() - began)
        _print_morning(wired, result, f"http://{host}:{port}", outbox)
        if serve:
            from arrears.cli.serve import serve_app

            serve_app(wired, host=host, port=port, demo_users=True)


def _print(result: DemoResult, seconds: float) -> None:
    r = result.report

    def cny(minor: int) -> str:
        return f"{Money.from_minor(minor, 'CNY').amount:,} CNY"

    held = r.actions_by_status_rule
    lines = [
        "",
        f"== Collection loop {result.start} → {result.end} ==",
        f"accounts                           {r.accounts}",
        "delinquent accounts now, by bucket "
        + (", ".join(f"{b}: {n}" for b, n in r.delinquent_by_bucket.items()) or "none"),
        f"cases opened / cured               {r.cases_opened} / {r.cases_cured}",
        f"reminded on day one                {r.day1_reminder_rate:.1%} of cases opened",
        f"reached on day one                 {r.day1_contact_rate:.1%} of cases opened"
        " (borrower or a contact)",
        f"promises settled / kept in full    {r.promises_settled} / {r.ptp_kept_rate:.1%}",
        f"plans agreed / completed / broken  {r.plans_activated} / {r.plans_completed}"
        f" / {r.plans_broken}",
        f"recovered / overdue when opened    {cny(r.recovered)} / {cny(r.overdue_at_open)}"
        f" ({r.recovery_rate:.1%})",
        "actions the compliance rules held back (rule, actions):"
        if held
        else "actions the compliance rules held back: none",
        *(f"  {status:<9} {rule:<28} {n}" for status, rule, n in held),
        "",
        "== Champion against challenger ==",
        *([result.strategy_description] if result.strategy_description else []),
        render(result.experiment),
        "",
        "== The case study: illness, day-one contact, a plan, paid in full ==",
        *result.timeline,
        "",
        f"finished in {seconds:.1f} s",
    ]
    typer.echo("\n".join(lines))


def _print_morning(wired: App, result: DemoResult, base: str, outbox: Path) -> None:
    """The day the demo leaves to be worked: who signs in, what waits in each queue, and a few
    borrower pages to open."""
    from datetime import timedelta

    from arrears.privacy.links import LINK_DAYS, make_token
    from arrears.services.users import DEMO_PASSWORD, DEMO_USERS

    day = result.next_day
    if day is None:
        return
    lines = [
        "",
        f"== The morning after: {day}, calls planned and not yet made ==",
        f"sign in at {base}/login with password {DEMO_PASSWORD!r}:",
    ]
    for name, role, _, team in DEMO_USERS:
        waiting = ""
        if name in result.queue_sizes:
            own = len(result.handed_out.get(name, []))
            waiting = f"  cases to work today: {result.queue_sizes[name]}, assigned to them: {own}"
        lines.append(f"  {name:<11} {role.value:<10} {team or '':<11}{waiting}")
    cases = [ids[0] for ids in result.handed_out.values() if ids][:3]
    if cases:
        lines.append(f"borrower pages (the one-time code is written to {outbox / 'otp.log'}):")
        for case_id in cases:
            token = make_token(wired.keyring, case_id, day + timedelta(days=LINK_DAYS))
            lines.append(f"  case {case_id}: {base}/b/{token}")
    typer.echo("\n".join(lines))
