"""`arrears lab model deploy | approve | list | rollback` — score models in production, with
the same maker–checker as strategies: one user deploys a trained model, another approves it
from a business date; the nightly score batch uses the approved model in force."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn

import typer

from arrears.cli import app_of
from arrears.cli.lab import _day, lab_app
from arrears.lab import models
from arrears.lab.scores import Score

model_app = typer.Typer(
    help="Score models in production: deploy, approve (a second person), list, roll back.",
    no_args_is_help=True,
)
lab_app.add_typer(model_app, name="model")


def _fail(exc: Exception) -> NoReturn:
    typer.echo(str(exc), err=True)
    raise typer.Exit(2)


@model_app.command("deploy")
def deploy(
    ctx: typer.Context,
    model_file: Path = typer.Argument(..., help="A model written by `arrears lab train-score`."),
    by: str = typer.Option(..., "--by", help="The user deploying it (maker)."),
) -> None:
    """Store MODEL_FILE (checked against its card's hash) as a pending version."""
    wired = app_of(ctx)
    try:
        blob, card = models.read_model_file(model_file)
        with wired.engine.begin() as conn:
            m = models.deploy(
                conn, wired.keyring, blob=blob, card=card, by=by, at=datetime.now(UTC)
            )
    except models.ERRORS as exc:
        _fail(exc)
    typer.echo(f"deployed {m.line()}")
    if m.status is models.ModelStatus.PENDING:
        typer.echo(
            f"another user approves it: arrears lab model approve --version {m.version} "
            "--by USER [--from YYYY-MM-DD]"
        )


@model_app.command("approve")
def approve(
    ctx: typer.Context,
    version: int = typer.Option(..., "--version", help="The deployed version number."),
    by: str = typer.Option(..., "--by", help="The approver: not the one who deployed it."),
    from_: str = typer.Option(
        None, "--from", help="Business date it scores from (default: the next the run has not run)."
    ),
) -> None:
    """Put a pending model in force from a business date (maker–checker)."""
    wired = app_of(ctx)
    try:
        with wired.engine.begin() as conn:
            start = _day(from_, "--from") if from_ else models.next_business_date(conn)
            if start is None:
                raise models.ModelStartInvalid(
                    "the daily run has never run; say from when: --from YYYY-MM-DD"
                )
            m = models.approve(
                conn, wired.keyring, version=version, by=by, active_from=start,
                at=datetime.now(UTC),
            )  # fmt: skip
    except models.ERRORS as exc:
        _fail(exc)
    typer.echo(f"approved {m.line()}")


@model_app.command("rollback")
def rollback(
    ctx: typer.Context,
    score: Score = typer.Option(..., "--score", help="The score whose model goes back."),
    by: str = typer.Option(..., "--by"),
    from_: str = typer.Option(..., "--from", help="Business date the model before scores from."),
) -> None:
    """Back to the model of the score approved before (none: the score is not written)."""
    wired = app_of(ctx)
    day: date = _day(from_, "--from")
    try:
        with wired.engine.begin() as conn:
            done = models.rollback(
                conn, wired.keyring, score=score, by=by, from_=day, at=datetime.now(UTC)
            )
    except models.ERRORS as exc:
        _fail(exc)
    now = done.now_in_force
    back = f"v{now.version} {now.model}" if now else f"no {score} model (no scores written)"
    typer.echo(f"rolled back {done.retired.line()}; from {day}: {back}")


@model_app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """Every deployed model version, its approval and the hash it was deployed with."""
    with app_of(ctx).engine.connect() as conn:
        found = models.versions(conn)
    if not found:
        typer.echo(f"no score model deployed; deploy one: {models.DEPLOY_HINT}")
    for m in found:
        typer.echo(f"{m.line()}  sha256 {m.sha256[:12]}")
