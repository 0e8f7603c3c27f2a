from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterable
from datetime import date, datetime

import typer

from arrears.cli import app_of
from arrears.compliance.loading import RulePackUnavailable
from arrears.observability.progress import progress
from arrears.services.reports import actions_as_of, cases_as_of


def parse_date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date; write YYYY-MM-DD") from None


def register(app: typer.Typer) -> None:
    @app.command("run-day")
    def run_day_cmd(
        ctx: typer.Context,
        as_of: str = typer.Option(..., "--as-of", help="Business date, YYYY-MM-DD."),
        by: str = typer.Option(
            "run-day", "--by", help="Who runs it (recorded in the audit log with the counts)."
        ),
    ) -> None:
        """Run the daily loop for one business date over the whole portfolio.

        Examples:

          arrears run-day --as-of 2026-03-02

          arrears --log-json run-day --as-of 2026-03-02 --by ops-cron
        """
        wired = app_of(ctx)
        try:
            with progress("run-day", unit="steps") as bar:
                report = wired.run_day(
                    parse_date(as_of), by=by, on_step=lambda name, _: bar.update(1, name)
                )
        except RulePackUnavailable as exc:  # fails closed: nothing planned, say why
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        for key, value in report.as_dict().items():
            typer.echo(f"{key:>20}: {value}")

    @app.command("cases")
    def cases_cmd(
        ctx: typer.Context,
        as_of: str = typer.Option(..., "--as-of"),
        as_json: bool = typer.Option(False, "--json", help="One JSON document."),
    ) -> None:
        """Cases open on a business date."""
        with app_of(ctx).engine.connect() as conn:
            _print(
                cases_as_of(conn, parse_date(as_of)),
                as_json,
                ["case_id", "borrower_id", "dpd", "bucket", "overdue_amount", "status"],
            )

    @app.command("actions")
    def actions_cmd(
        ctx: typer.Context,
        as_of: str = typer.Option(..., "--as-of"),
        as_json: bool = typer.Option(False, "--json", help="One JSON document."),
    ) -> None:
        """Actions the run planned for a business date, with their status."""
        with app_of(ctx).engine.connect() as conn:
            _print(
                actions_as_of(conn, parse_date(as_of)),
                as_json,
                [
                    "action_id",
                    "case_id",
                    "target_type",
                    "target_id",
                    "channel",
                    "template",
                    "status",
                ],
            )


def _print(rows: Iterable[dict[str, object]], as_json: bool, columns: list[str]) -> None:
    """Rows as they come (a report of any size in bounded memory): one JSON array, or a table."""
    out = sys.stdout
    if as_json:
        out.write("[")
        n = -1
        for n, row in enumerate(rows):
            out.write(",\n" if n else "\n")
            out.write(textwrap.indent(json.dumps(row, ensure_ascii=False, indent=2), "  "))
        out.write("\n]\n" if n >= 0 else "]\n")
        return
    out.write("  ".join(columns) + "\n")
    for row in rows:
        out.write("  ".join(str(row[c]) for c in columns) + "\n")
