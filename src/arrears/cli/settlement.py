"""`arrears settlement …`: offer to settle a case for a share of its balance, approve, list."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer

from arrears.cli import app_of
from arrears.cli.run import parse_date
from arrears.domain.errors import DomainError
from arrears.domain.settlement_offers import DiscountLimits, OfferStatus
from arrears.formats import plain_amount
from arrears.services import settlements as svc

_ERRORS = (
    DomainError,
    svc.SettlementCaseNotFound,
    svc.SettlementCaseClosed,
    svc.SettlementOfferNotFound,
    svc.SettlementOfferExists,
    svc.SettlementUserUnknown,
)
_LIMITS_HELP = "Discount each role grants alone, percent: agent=10,team_lead=30,manager=50."


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _limits(text: str | None) -> DiscountLimits:
    return DiscountLimits.parse(text) if text else DiscountLimits()


def _pct(text: str) -> Decimal:
    try:
        return Decimal(text.strip().rstrip("%"))
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a percentage; write e.g. 70") from None


def _show(o: svc.OfferRecord) -> str:
    cur = o.currency
    approved = f"  approved by {o.approved_by}" if o.approved_by else ""
    return (
        f"offer {o.id}  case {o.case_id}  {o.status}  pay {o.pay_pct}% "
        f"({plain_amount(o.amount.to_minor(), cur)} of {plain_amount(o.balance.to_minor(), cur)} "
        f"{cur}, {o.discount_pct}% off)  due {o.due_on}  by {o.proposed_by}{approved}  "
        f"paid {plain_amount(o.paid.to_minor(), cur)}"
    )


def register(app: typer.Typer) -> None:
    cli = typer.Typer(no_args_is_help=True, help="Settlement offers: a share of the balance.")
    app.add_typer(cli, name="settlement")

    @cli.command("offer")
    def offer_cmd(
        ctx: typer.Context,
        case: int = typer.Option(..., "--case"),
        pay: str = typer.Option(..., "--pay", help="Share of the balance to pay, percent (70)."),
        due: str = typer.Option(..., "--due", help="Date the borrower pays by, YYYY-MM-DD."),
        on: str = typer.Option(..., "--on", help="Business date of the offer."),
        by: str = typer.Option(..., "--by", help="The user making it (their role sets limits)."),
        note: str = typer.Option(None, "--note"),
        limits: str = typer.Option(
            None, "--limits", envvar="ARREARS_SETTLEMENT_LIMITS", help=_LIMITS_HELP
        ),
    ) -> None:
        """Offer to settle a case; beyond the proposer's limit it waits for approval."""
        with app_of(ctx).engine.begin() as conn:
            try:
                o = svc.offer_settlement(
                    conn,
                    case_id=case,
                    pay_pct=_pct(pay),
                    due_on=parse_date(due),
                    on=parse_date(on),
                    by=by,
                    limits=_limits(limits),
                    note=note,
                )
            except _ERRORS as exc:
                _fail(exc)
                return
        typer.echo(_show(o))
        if o.status is OfferStatus.PROPOSED:
            typer.echo(
                "beyond the proposer's limit: waits for approval (arrears settlement approve)"
            )

    @cli.command("approve")
    def approve_cmd(
        ctx: typer.Context,
        offer: int = typer.Argument(...),
        on: str = typer.Option(..., "--on"),
        by: str = typer.Option(..., "--by", help="The approver (a role allowed it)."),
        limits: str = typer.Option(
            None, "--limits", envvar="ARREARS_SETTLEMENT_LIMITS", help=_LIMITS_HELP
        ),
    ) -> None:
        """Approve an offer beyond its proposer's limit."""
        with app_of(ctx).engine.begin() as conn:
            try:
                o = svc.approve_settlement(
                    conn, offer, by=by, on=parse_date(on), limits=_limits(limits)
                )
            except _ERRORS as exc:
                _fail(exc)
                return
        typer.echo(_show(o))

    @cli.command("cancel")
    def cancel_cmd(
        ctx: typer.Context,
        offer: int = typer.Argument(...),
        on: str = typer.Option(..., "--on"),
    ) -> None:
        """Withdraw an offer not yet settled."""
        with app_of(ctx).engine.begin() as conn:
            try:
                o = svc.cancel_settlement(conn, offer, on=parse_date(on))
            except _ERRORS as exc:
                _fail(exc)
                return
        typer.echo(_show(o))

    @cli.command("list")
    def list_cmd(
        ctx: typer.Context,
        status: str = typer.Option(
            "all", "--status", help="proposed, approved, settled, lapsed, cancelled, all"
        ),
        case: int = typer.Option(None, "--case"),
    ) -> None:
        """Settlement offers, oldest first."""
        if status != "all" and status not in set(OfferStatus):
            raise typer.BadParameter(f"{status!r}: use one of {', '.join(OfferStatus)} or all")
        with app_of(ctx).engine.connect() as conn:
            found = svc.list_offers(conn, status=None if status == "all" else status, case_id=case)
        if not found:
            typer.echo("no settlement offers")
        for o in found:
            typer.echo(_show(o))
