"""`arrears agency …`: external collection agencies — add and list them, their placement rules,
their API tokens; place matching cases (and write the placement files), recall cases, and the
month's commission."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from arrears.cli import app_of
from arrears.cli.run import parse_date
from arrears.formats import plain_amount
from arrears.services import agencies as svc
from arrears.services.agency_commission import MonthInvalid, monthly
from arrears.services.auth import TOKEN_TTL
from arrears.services.placement_file import place_and_file

_ERRORS = (
    svc.AgencyInvalid,
    svc.AgencyExists,
    svc.AgencyUnknown,
    svc.TiersInvalid,
    svc.PlacementRuleInvalid,
    svc.PlacementUnknown,
    MonthInvalid,
)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _tiers(agency: svc.Agency) -> str:
    return ", ".join(f"from {t.from_days} {svc.percent(t.rate)} %" for t in agency.tiers)


def register(app: typer.Typer) -> None:
    cli = typer.Typer(no_args_is_help=True, help="External collection agencies and placements.")
    rules = typer.Typer(no_args_is_help=True, help="Which cases go to which agency.")
    app.add_typer(cli, name="agency")
    cli.add_typer(rules, name="rule")

    @cli.command("add")
    def add_cmd(
        ctx: typer.Context,
        agency_id: str = typer.Argument(..., help="Short id, e.g. north-recoveries."),
        name: str = typer.Option(..., "--name"),
        tiers: str = typer.Option(
            ..., "--tiers", help="Commission tiers FROM_DAYS:PERCENT, e.g. 0:15,120:20,180:25."
        ),
        basis: str = typer.Option(
            "dpd", "--basis", help="dpd: the DPD when placed picks the tier; age: days placed."
        ),
        by: str = typer.Option(..., "--by", help="Who adds it (audited)."),
    ) -> None:
        """Add an agency with its commission tiers."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                agency = svc.add_agency(
                    conn,
                    agency_id,
                    name,
                    svc.parse_tiers(tiers),
                    basis=basis,
                    by=by,
                    at=datetime.now(UTC),
                    ring=wired.keyring,
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(f"agency {agency.id} added: {agency.name}; by {agency.basis}: {_tiers(agency)}")

    @cli.command("list")
    def list_cmd(ctx: typer.Context) -> None:
        """Agencies, their tiers and how many cases each holds now."""
        with app_of(ctx).engine.connect() as conn:
            found = svc.list_agencies(conn)
        if not found:
            typer.echo("no agencies; add one with `arrears agency add`")
        for a in found:
            state = "" if a.active else "  (inactive)"
            typer.echo(f"{a.id}  {a.name}  placed {a.placed}  by {a.basis}: {_tiers(a)}{state}")

    @rules.command("add")
    def rule_add_cmd(
        ctx: typer.Context,
        agency_id: str = typer.Argument(...),
        min_dpd: int = typer.Option(..., "--min-dpd"),
        max_dpd: int = typer.Option(None, "--max-dpd"),
        with_active_plan: bool = typer.Option(
            False, "--with-active-plan", help="Place also cases with an active repayment plan."
        ),
        priority: int = typer.Option(100, "--priority", help="Lower is tried first."),
        by: str = typer.Option(..., "--by"),
    ) -> None:
        """Place open cases at DPD ≥ min (≤ max) with the agency."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                rule = svc.add_rule(
                    conn,
                    agency_id,
                    min_dpd=min_dpd,
                    max_dpd=max_dpd,
                    no_active_plan=not with_active_plan,
                    priority=priority,
                    by=by,
                    at=datetime.now(UTC),
                    ring=wired.keyring,
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(f"rule {rule.id} added for {rule.agency_id}")

    @rules.command("list")
    def rule_list_cmd(ctx: typer.Context) -> None:
        """Placement rules in the order they are tried."""
        with app_of(ctx).engine.connect() as conn:
            found = svc.list_rules(conn)
        if not found:
            typer.echo("no placement rules")
        for r in found:
            upper = f" ≤ {r.max_dpd}" if r.max_dpd is not None else ""
            plan = "  no active plan" if r.no_active_plan else ""
            typer.echo(
                f"{r.id}  priority {r.priority}  DPD ≥ {r.min_dpd}{upper}{plan}  → {r.agency_id}"
            )

    @cli.command("token")
    def token_cmd(
        ctx: typer.Context,
        agency_id: str = typer.Argument(...),
        by: str = typer.Option(..., "--by"),
        ttl_days: int = typer.Option(TOKEN_TTL.days, "--ttl-days"),
    ) -> None:
        """A token for the agency's API: it sees only the agency's placed cases (shown once)."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                secret = svc.issue_agency_token(
                    conn,
                    agency_id,
                    datetime.now(UTC),
                    ring=wired.keyring,
                    by=by,
                    ttl=timedelta(days=ttl_days),
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(secret)

    @cli.command("place")
    def place_cmd(
        ctx: typer.Context,
        as_of: str = typer.Option(..., "--as-of", help="Business date, YYYY-MM-DD."),
        by: str = typer.Option("agency-place", "--by"),
        out: Path = typer.Option(None, "--out", help="Folder of the placement files."),
    ) -> None:
        """Place the cases the rules match; write each agency's placement file (CSV, XLSX)."""
        wired = app_of(ctx)
        folder = out or wired.settings.outbox_dir / "placements"
        with wired.engine.begin() as conn:
            done = place_and_file(
                conn, wired.keyring, parse_date(as_of), folder, by=by, at=datetime.now(UTC)
            )
        if not done:
            typer.echo("no case to place")
        for agency, (n, (csv_path, xlsx_path)) in done.items():
            typer.echo(f"{agency}: {n} placed  {csv_path}  {xlsx_path}")

    @cli.command("recall")
    def recall_cmd(
        ctx: typer.Context,
        case: int = typer.Argument(None, help="The case to recall."),
        agency: str = typer.Option(None, "--agency", help="Recall every case of the agency."),
        as_of: str = typer.Option(..., "--as-of"),
        by: str = typer.Option(..., "--by"),
        reason: str = typer.Option(None, "--reason"),
    ) -> None:
        """Return a case (or all of an agency's) to the lender: outreach resumes."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                done = svc.recall(
                    conn,
                    parse_date(as_of),
                    case_id=case,
                    agency_id=agency,
                    reason=reason,
                    by=by,
                    at=datetime.now(UTC),
                    ring=wired.keyring,
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(f"{len(done)} recalled: " + " ".join(str(p.case_id) for p in done))

    @cli.command("commission")
    def commission_cmd(
        ctx: typer.Context,
        month: str = typer.Option(..., "--month", help="YYYY-MM"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Commission per agency, currency and tier for the month's recovered payments."""
        try:
            with app_of(ctx).engine.connect() as conn:
                found = monthly(conn, month)
        except MonthInvalid as exc:
            _fail(exc)
            return
        rows = [
            {
                "agency": x.agency_id,
                "currency": x.currency,
                "tier_from_days": x.tier.from_days,
                "rate_percent": svc.percent(x.tier.rate),
                "payments": x.payments,
                "recovered": plain_amount(x.recovered, x.currency),
                "commission": plain_amount(x.commission, x.currency),
            }
            for x in found
        ]
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False))
            return
        if not rows:
            typer.echo(f"nothing recovered in {month}")
        for r in rows:
            typer.echo(
                f"{r['agency']}  {r['currency']}  from day {r['tier_from_days']} "
                f"{r['rate_percent']} %  {r['payments']} payments  recovered {r['recovered']}  "
                f"commission {r['commission']}"
            )
