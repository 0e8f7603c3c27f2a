from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterable
from datetime import date, datetime

import typer

from arrears.cli import app_of
from arrears.compliance.loading import RulePackUnavailable
from arrears.domain.errors import DomainError
from arrears.observability.memory import peak_memory_mb
from arrears.observability.progress import progress


def parse_date(text: str) -> date:
    digits = text[:4] + text[5:7] + text[8:]
    if len(text) == 10 and text[4] == text[7] == "-" and digits.isascii() and digits.isdigit():
        try:  # the usual spelling, read without loading strptime and its locale tables
            return date(int(text[:4]), int(text[5:7]), int(text[8:]))
        except ValueError:
            pass  # not a day of the calendar: strptime refuses it as before
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
        engine: str = typer.Option(
            "single",
            "--engine",
            help="single (the database runs every step) or spark (delinquency, cases and "
            "strategy on Apache Spark, by borrower shard; docs/spark.md).",
        ),
        shards: int = typer.Option(4, "--shards", help="Borrower shards (--engine spark)."),
        spark_master: str = typer.Option(
            "local[2]",
            "--spark-master",
            help="Spark master (--engine spark): local[N], spark://host:7077, yarn; empty "
            "under spark-submit.",
        ),
        spark_workdir: str = typer.Option(
            "",
            "--spark-workdir",
            help="Folder of the extract and results (--engine spark); on a cluster, one every "
            "node reads at the same path. Default: a temporary folder.",
        ),
    ) -> None:
        """Run the daily loop for one business date over the whole portfolio.

        Examples:

          arrears run-day --as-of 2026-03-02

          arrears --log-json run-day --as-of 2026-03-02 --by ops-cron

          arrears run-day --as-of 2026-03-02 --engine spark --shards 8 --spark-master local[2]
        """
        wired = app_of(ctx)
        if engine not in ("single", "spark"):
            raise typer.BadParameter(f"{engine!r}: use single or spark", param_hint="--engine")
        if shards < 1:
            raise typer.BadParameter(f"{shards}: at least 1", param_hint="--shards")
        spark = None
        if engine == "spark":
            from pathlib import Path

            from arrears.engine.spark.run import SparkOptions

            spark = SparkOptions(
                shards=shards,
                master=spark_master,
                workdir=Path(spark_workdir) if spark_workdir else None,
            )
        try:
            with progress("run-day", unit="steps") as bar:
                report = wired.run_day(
                    parse_date(as_of),
                    by=by,
                    on_step=lambda name, _: bar.update(1, name),
                    spark=spark,
                )
        except RulePackUnavailable as exc:  # fails closed: nothing planned, say why
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except DomainError as exc:  # a Spark run it cannot do, a shard not written: say which
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        for key, value in report.as_dict().items():
            typer.echo(f"{key:>20}: {value}")
        typer.echo(f"{'peak_memory_mb':>20}: {peak_memory_mb()}")

    @app.command("cases")
    def cases_cmd(
        ctx: typer.Context,
        as_of: str = typer.Option(..., "--as-of"),
        as_json: bool = typer.Option(False, "--json", help="One JSON document."),
    ) -> None:
        """Cases open on a business date."""
        from arrears.services.reports import cases_as_of

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
        from arrears.services.reports import actions_as_of

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
