"""`arrears compliance …`: explain a decision, report by rule, override, flags, preferences,
holidays, template checks and the portfolio's rule pack."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from arrears.cli import app_of
from arrears.cli.run import parse_date
from arrears.compliance import officer as svc
from arrears.compliance.history import ActionNotFound
from arrears.compliance.loading import JurisdictionInvalid, RulePackUnavailable, pack_choice
from arrears.compliance.rules.content import check_content
from arrears.compliance.rules.model import Audience
from arrears.compliance.rules.packs import PACKS, get_pack
from arrears.compliance.send import check_action
from arrears.domain.errors import DomainError


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    cli = typer.Typer(no_args_is_help=True, help="The rule packs and the compliance gate.")
    app.add_typer(cli, name="compliance")

    @cli.command("explain")
    def explain_cmd(
        ctx: typer.Context,
        action: int = typer.Option(..., "--action", help="Action id."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """The decisions on one action, with every rule consulted."""
        with app_of(ctx).engine.connect() as conn:
            try:
                story = svc.explain(conn, action)
            except ActionNotFound as exc:
                _fail(exc)
                return
        if as_json:
            typer.echo(json.dumps(story.__dict__, ensure_ascii=False, indent=2))
            return
        a = story.action
        typer.echo(
            f"action {a['id']} case {a['case_id']} {a['business_date']} {a['step']}: "
            f"{a['channel']} {a['template']} to {a['target']} — now {a['status']}"
        )
        if not story.decisions:
            typer.echo("  not judged by the gate yet")
        for d in story.decisions:
            when = f" at {d['scheduled_at']}" if d["scheduled_at"] else ""
            rule = f" [{d['rule_id']}]" if d["rule_id"] else ""
            typer.echo(
                f"\n{d['stage']} ({d['pack']}, judged for {d['judged_at']}): "
                f"{d['verdict'].upper()}{when}{rule}\n  {d['reason']}"
            )
            for r in d["rules"]:
                mark = {"allow": "ok   ", "defer": "DEFER", "block": "BLOCK"}[r["verdict"]]
                extra = "" if r["verdict"] == "allow" else f" — {r['message']}"
                typer.echo(f"  {mark} {r['rule']}{extra}")

    @cli.command("report")
    def report_cmd(
        ctx: typer.Context,
        start: str = typer.Option(..., "--from", help="First business date, YYYY-MM-DD."),
        end: str = typer.Option(..., "--to", help="Last business date, YYYY-MM-DD."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Allowed / deferred / blocked planned actions, counted by the deciding rule."""
        with app_of(ctx).engine.connect() as conn:
            lines = svc.report(conn, parse_date(start), parse_date(end))
        if as_json:
            typer.echo(json.dumps([line.__dict__ for line in lines], indent=2))
            return
        totals: dict[str, int] = {}
        for line in lines:
            totals[line.verdict] = totals.get(line.verdict, 0) + line.count
        typer.echo(f"gate decisions {start} → {end}")
        for verdict in ("allow", "defer", "block"):
            typer.echo(f"  {verdict:<6} {totals.get(verdict, 0)}")
        for line in lines:
            if line.verdict != "allow":
                typer.echo(f"    {line.verdict:<6} {line.rule_id:<40} {line.count}")

    @cli.command("check")
    def check_cmd(
        ctx: typer.Context,
        action: int = typer.Option(..., "--action"),
        at: str = typer.Option(None, "--at", help="Moment, ISO 8601 with offset; default now."),
    ) -> None:
        """Judge one action now (as the dispatcher or the agent workbench does)."""
        moment = datetime.fromisoformat(at) if at else _now()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            try:
                dec = check_action(conn, action, moment)
            except (ActionNotFound, RulePackUnavailable, DomainError) as exc:
                _fail(exc)
                return
        typer.echo(
            f"{dec.verdict.upper()} {dec.at.isoformat() if dec.at else ''} {dec.rule_id or ''}"
        )
        typer.echo(f"  {dec.reason}")

    @cli.command("override")
    def override_cmd(
        ctx: typer.Context,
        action: int = typer.Option(..., "--action"),
        rule: str = typer.Option(..., "--rule", help="The rule id to waive, e.g. cn.holiday."),
        reason: str = typer.Option(..., "--reason"),
        by: str = typer.Option(..., "--by", help="The compliance officer."),
    ) -> None:
        """Let one action past one rule (never a legal absolute); audited."""
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            try:
                dec = svc.override_action(
                    conn,
                    action,
                    rule_id=rule,
                    reason=reason,
                    by=by,
                    at=_now(),
                    keyring=wired.keyring,
                )
            except (svc.OverrideRefused, ActionNotFound, RulePackUnavailable, DomainError) as exc:
                _fail(exc)
                return
        typer.echo(f"overridden; now {dec.verdict} {dec.rule_id or ''}: {dec.reason}")

    @cli.command("flag")
    def flag_cmd(
        ctx: typer.Context,
        borrower: str = typer.Option(..., "--borrower"),
        flag: str = typer.Option(..., "--flag", help="cease, dispute, bankruptcy, deceased, …"),
        since: str = typer.Option(..., "--since"),
        until: str = typer.Option(None, "--until"),
        by: str = typer.Option(..., "--by"),
        note: str = typer.Option(None, "--note"),
        lift: bool = typer.Option(False, "--lift", help="Lift the flag as of --since."),
    ) -> None:
        """Set or lift a borrower flag; audited."""
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            try:
                if lift:
                    n = svc.lift_flag(
                        conn,
                        wired.keyring,
                        borrower_id=borrower,
                        flag=flag,
                        on=parse_date(since),
                        by=by,
                        at=_now(),
                    )
                    typer.echo(f"lifted {n} {flag} flag(s)")
                    return
                svc.set_flag(
                    conn,
                    wired.keyring,
                    borrower_id=borrower,
                    flag=flag,
                    since=parse_date(since),
                    until=parse_date(until) if until else None,
                    by=by,
                    note=note,
                    at=_now(),
                )
            except DomainError as exc:
                _fail(exc)
        typer.echo(f"borrower {borrower} flagged {flag}")

    @cli.command("preferences")
    def preferences_cmd(
        ctx: typer.Context,
        borrower: str = typer.Option(..., "--borrower"),
        agreed: str = typer.Option("", "--agreed", help="Extra hours agreed: 07:30-08:00"),
        inconvenient: str = typer.Option("", "--inconvenient", help="12:00-14:00,18:00-19:00"),
        refuse: str = typer.Option("", "--refuse", help="Channels not to use: 'call sms'"),
        on: str = typer.Option(..., "--on"),
        by: str = typer.Option(..., "--by"),
    ) -> None:
        """Record the borrower's stated contact preferences."""
        with app_of(ctx).engine.begin() as conn:
            svc.set_preferences(
                conn,
                borrower_id=borrower,
                on=parse_date(on),
                by=by,
                agreed_hours=agreed,
                inconvenient_hours=inconvenient,
                refused_channels=refuse,
            )
        typer.echo(f"preferences of {borrower} recorded")

    @cli.command("holiday")
    def holiday_cmd(
        ctx: typer.Context,
        pack: str = typer.Option(..., "--pack"),
        day: str = typer.Option(..., "--day"),
        name: str = typer.Option(..., "--name"),
    ) -> None:
        """Add a public holiday to a pack's calendar (no collection calls on it)."""
        with app_of(ctx).engine.begin() as conn:
            svc.add_holiday(conn, pack=pack, day=parse_date(day), name=name)
        typer.echo(f"{day} {name} added to {pack}")

    @cli.command("check-template")
    def check_template_cmd(
        file: Path = typer.Argument(..., exists=True, readable=True),
        audience: str = typer.Option("contact", "--audience", help="borrower | contact"),
        pack: str = typer.Option("cn", "--pack"),
    ) -> None:
        """Check a template or call script before saving it; names every offending part."""
        found = check_content(
            file.read_text(), Audience(audience), phrases=get_pack(pack).banned_phrases
        )
        if not found:
            typer.echo(f"ok: nothing in {file.name} is forbidden for a {audience}")
            return
        for v in found:
            typer.echo(f"{v.kind}: {v.fragment!r} — {v.message}")
        raise typer.Exit(1)

    @cli.command("packs")
    def packs_cmd() -> None:
        """The rule packs and their rules (sources: docs/rule-packs.md)."""
        for code, pack in PACKS.items():
            typer.echo(f"{code}: {pack.title}")
            typer.echo(
                f"  hours {pack.window} local, retention {pack.retention_years} years, "
                f"{len(pack.rules)} rules"
            )
            for rule in pack.rules:
                absolute = "" if rule.overridable else "  (cannot be overridden)"
                typer.echo(f"    {pack.rule_id(rule.name)}{absolute}")

    @cli.command("use-pack")
    def use_pack_cmd(
        ctx: typer.Context,
        pack: str = typer.Argument(...),
        by: str = typer.Option(..., "--by"),
        reason: str = typer.Option(..., "--reason"),
    ) -> None:
        """Set the portfolio's default rule pack (borrowers whose jurisdiction is not mapped);
        the next run, send and dial use it. Audited."""
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            try:
                svc.set_rule_pack(conn, wired.keyring, pack=pack, by=by, reason=reason, at=_now())
            except (DomainError, RulePackUnavailable) as exc:
                _fail(exc)
        typer.echo(f"rule pack is now {pack}")

    @cli.command("map-jurisdiction")
    def map_jurisdiction_cmd(
        ctx: typer.Context,
        jurisdiction: str = typer.Argument(..., help="CN, GB, US-CA, or a prefix: US-*"),
        pack: str = typer.Argument(None, help="The pack's code (cn, us, uk); omit with --remove"),
        remove: bool = typer.Option(False, "--remove", help="Back to the portfolio default."),
        by: str = typer.Option(..., "--by"),
        reason: str = typer.Option(..., "--reason"),
    ) -> None:
        """Judge a jurisdiction's borrowers under a rule pack; audited."""
        if (pack is None) != remove:
            _fail(ValueError("name a pack, or --remove the mapping (not both)"))
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            try:
                svc.map_jurisdiction(
                    conn,
                    wired.keyring,
                    pattern=jurisdiction,
                    pack=None if remove else pack,
                    by=by,
                    reason=reason,
                    at=_now(),
                )
            except (DomainError, RulePackUnavailable, JurisdictionInvalid) as exc:
                _fail(exc)
        typer.echo(f"{jurisdiction}: {'the portfolio default' if remove else pack}")

    @cli.command("jurisdictions")
    def jurisdictions_cmd(ctx: typer.Context) -> None:
        """Which pack judges which borrowers: the mapped jurisdictions and the default."""
        with app_of(ctx).engine.connect() as conn:
            choice = pack_choice(conn, fallback=app_of(ctx).settings.rule_pack)
        for pattern, code in choice.patterns:
            typer.echo(f"{pattern}: {code}")
        typer.echo(f"(any other, or none): {choice.default}")
