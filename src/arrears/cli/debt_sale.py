"""`arrears debt-sale export` and `arrears report recoveries`: a debt after its charge-off."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from arrears.cli import app_of
from arrears.cli.report_schedules import add_schedule_commands
from arrears.cli.run import parse_date
from arrears.formats import plain_amount
from arrears.services import debt_sale as svc
from arrears.services.recoveries import RecoveryPeriodInvalid, recoveries, totals

_ERRORS = (
    svc.DebtSaleAccountsInvalid,
    svc.DebtSaleEmpty,
    svc.DebtSaleFileExists,
    svc.DebtSaleSelectionInvalid,
)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    sale = typer.Typer(no_args_is_help=True, help="Sell charged-off accounts to a debt buyer.")
    app.add_typer(sale, name="debt-sale")
    report = typer.Typer(no_args_is_help=True, help="Reports: recoveries, scheduled reports.")
    app.add_typer(report, name="report")
    add_schedule_commands(report)

    @sale.command("export")
    def export_cmd(
        ctx: typer.Context,
        out: Path = typer.Option(..., "--out", help="The buyer's CSV file (not overwritten)."),
        buyer: str = typer.Option(..., "--buyer", help="Who buys the accounts."),
        on: str = typer.Option(..., "--on", help="Business date of the sale."),
        by: str = typer.Option(..., "--by", help="Who exports (in the audit log)."),
        accounts: Path = typer.Option(None, "--accounts", help="File of account ids, one a line."),
        before: str = typer.Option(
            None, "--charged-off-before", help="Every account charged off before this date."
        ),
    ) -> None:
        """Write the buyer's file of charged-off accounts; they are marked sold and leave
        collection. The only place the sale puts personal data is the buyer's file."""
        wired = app_of(ctx)
        try:
            ids = svc.read_account_ids(accounts) if accounts is not None else None
            done = svc.export_sale(
                wired.engine,
                wired.keyring,
                out=out,
                buyer=buyer,
                on=parse_date(on),
                by=by,
                at=datetime.now(UTC),
                account_ids=ids,
                charged_off_before=parse_date(before) if before else None,
            )
        except OSError as exc:
            _fail(exc)
            return
        except _ERRORS as exc:
            _fail(exc)
            return
        sold = ", ".join(f"{plain_amount(v, c)} {c}" for c, v in sorted(done.balances.items()))
        typer.echo(f"sale {done.sale_id}: {done.accounts} accounts to {buyer} ({sold})")
        typer.echo(f"file {done.path}  sha256 {done.sha256}")

    @report.command("recoveries")
    def recoveries_cmd(
        ctx: typer.Context,
        start: str = typer.Option(..., "--from", help="First booking date, YYYY-MM-DD."),
        end: str = typer.Option(..., "--to", help="Last booking date, YYYY-MM-DD."),
    ) -> None:
        """Payments on charged-off accounts booked in a period, apart from collections."""
        with app_of(ctx).engine.connect() as conn:
            try:
                found = recoveries(conn, parse_date(start), parse_date(end))
            except RecoveryPeriodInvalid as exc:
                _fail(exc)
                return
        if not found:
            typer.echo("no recoveries")
            return
        typer.echo(
            "account_id  currency  charged_off_on  charged_off  payments  recovered  applied"
        )
        for r in found:
            c = r.currency
            typer.echo(
                f"{r.account_id}  {c}  {r.charged_off_on}  {plain_amount(r.charged_off, c)}  "
                f"{r.payments}  {plain_amount(r.recovered, c)}  {plain_amount(r.applied, c)}"
            )
        for x in totals(found):
            c = x.currency
            typer.echo(
                f"total {c}: {x.accounts} accounts, {x.payments} payments, "
                f"{plain_amount(x.recovered, c)} recovered, {plain_amount(x.applied, c)} applied"
            )
