"""`arrears strategy check | explain | diff | fields` — for the collections strategist."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import typer

from arrears.cli import app_of
from arrears.domain.strategy.evaluate import PlannedAction, evaluate, show
from arrears.domain.strategy.expr import FUNCTIONS
from arrears.domain.strategy.fields import FIELDS
from arrears.domain.strategy.model import Strategy
from arrears.services import cases
from arrears.services import strategies as svc
from arrears.strategy import loader
from arrears.strategy.plan import preview
from arrears.strategy.snapshot import load_snapshots


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date; write YYYY-MM-DD") from None


def _load(name: str) -> Strategy:
    try:
        return loader.load(name)
    except (loader.StrategyUnknown, loader.StrategyInvalid) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _label(a: PlannedAction) -> str:
    who = "borrower" if a.target_type == "borrower" else f"contact {a.target_id}"
    return f"{a.step} ({a.channel} {a.template} to {who})"


def register(app: typer.Typer) -> None:
    st = typer.Typer(
        help="Strategies: check, explain, compare; deploy, approve, roll back.",
        no_args_is_help=True,
    )
    app.add_typer(st, name="strategy")
    _register_deployment(st)

    @st.command("check")
    def check(file: Path) -> None:
        """Validate FILE: errors (line and column) fail; overlapping or unreachable steps warn."""
        if not file.exists():
            typer.echo(f"no such file: {file}", err=True)
            raise typer.Exit(2)
        strategy, problems = loader.read(file.read_text(encoding="utf-8"), str(file))
        for p in problems:
            typer.echo(str(p))
        if strategy is None:
            raise typer.Exit(1)
        shares = ", ".join(f"{v.name} {v.share}%" for v in strategy.variants)
        warned = len(problems)
        typer.echo(
            f"{file}: strategy {strategy.name!r} v{strategy.version} is valid — "
            f"{len(strategy.segments)} segments, {len(strategy.steps)} steps, variants {shares}"
            + (f"; {warned} warning(s)" if warned else "")
        )

    @st.command("fields")
    def fields() -> None:
        """The fields and functions a condition may use."""
        for f in FIELDS.values():
            null = ", may be null" if f.nullable else ""
            values = f" [{f.allowed()}]" if f.values or f.pattern else ""
            typer.echo(f"{f.name:<24} {f.type.value}{null}{values} — {f.doc}")
        for doc in FUNCTIONS.values():
            typer.echo(f"function {doc}")

    @st.command("explain")
    def explain(
        ctx: typer.Context,
        account: str = typer.Option(..., "--account", help="Account id."),
        as_of: str = typer.Option(..., "--as-of", help="Business date YYYY-MM-DD."),
        strategy: str = typer.Option(
            None,
            "--strategy",
            help="Name or file (default: the strategy version the case is under).",
        ),
    ) -> None:
        """Which segment, variant and steps apply to ACCOUNT's case on the date, and why."""
        day = _date(as_of)
        engine = app_of(ctx).engine
        with engine.connect() as conn:
            borrower_id = cases.borrower_of_account(conn, account)
            if borrower_id is None:
                typer.echo(f"no account {account!r}; check the id (arrears cases --json)", err=True)
                raise typer.Exit(2)
            case = cases.open_case_of(conn, borrower_id)
            if case is None:
                typer.echo(
                    f"account {account}: borrower {borrower_id} has no open case — nothing to plan"
                )
                raise typer.Exit(0)
            deployed = None if strategy else svc.case_strategy(conn, case[0])
            chosen = deployed or _load(
                strategy or (case[1] if case[1] in loader.BUILTIN else "seed")
            )
            snap = load_snapshots(conn, chosen.name, [case[0]], day)[0]
            compiled = preview(conn, chosen, day, [case[0]])
        decision = evaluate(chosen, snap, day)
        typer.echo(f"account {account} — borrower {snap.borrower_id}, case {snap.case_id}, {day}")
        typer.echo(f"strategy {chosen.name} v{chosen.version}")
        assigned = (
            "stored" if snap.assigned_variant else "by hash of case id and salt, not yet stored"
        )
        typer.echo(f"variant  {decision.variant} ({assigned})")
        typer.echo(f"segment  {decision.segment or '-'}: {decision.segment_reason}")
        typer.echo("facts    " + ", ".join(f"{k}={show(v)}" for k, v in decision.facts.items()))
        typer.echo("steps")
        for trace in decision.steps:
            mark = "✔" if trace.fired else "·"
            typer.echo(f"  {mark} {trace.step:<20} {trace.reason}")
        typer.echo("actions")
        for a in decision.actions:
            typer.echo(f"  {_label(a)} priority {a.priority}")
        if not decision.actions:
            typer.echo("  none today")
        agree = sorted(decision.actions, key=PlannedAction.key) == compiled
        typer.echo(f"compiled engine {'agrees' if agree else 'DISAGREES: ' + str(compiled)}")
        if not agree:
            raise typer.Exit(1)

    @st.command("diff")
    def diff(
        ctx: typer.Context,
        a: str = typer.Argument(..., help="Strategy A (name or file)."),
        b: str = typer.Argument(..., help="Strategy B (name or file)."),
        as_of: str = typer.Option(..., "--as-of", help="Business date YYYY-MM-DD."),
        limit: int = typer.Option(50, help="Cases to list."),
    ) -> None:
        """Which accounts A and B would treat differently on the date (nothing is written)."""
        day = _date(as_of)
        sa, sb = _load(a), _load(b)
        engine = app_of(ctx).engine
        with engine.connect() as conn:
            pa, pb = preview(conn, sa, day), preview(conn, sb, day)
            by_case: dict[int, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
            for x in pa:
                by_case[x.case_id][0].add(_label(x))
            for x in pb:
                by_case[x.case_id][1].add(_label(x))
            differ = {c: v for c, v in by_case.items() if v[0] != v[1]}
            accts = cases.accounts_of_cases(conn, list(differ))
        typer.echo(
            f"{day}: {sa.name} plans {len(pa)} actions, {sb.name} plans {len(pb)}; "
            f"{len(differ)} case(s) treated differently"
        )
        for case_id in sorted(differ)[:limit]:
            only_a = sorted(differ[case_id][0] - differ[case_id][1])
            only_b = sorted(differ[case_id][1] - differ[case_id][0])
            typer.echo(f"case {case_id} (accounts {', '.join(accts.get(case_id, []))})")
            for label in only_a:
                typer.echo(f"  - {sa.name}: {label}")
            for label in only_b:
                typer.echo(f"  + {sb.name}: {label}")
        if len(differ) > limit:
            typer.echo(f"… and {len(differ) - limit} more (raise --limit)")


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _shares(pairs: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in pairs:
        name, sep, pct = pair.partition("=")
        if not sep or not pct.strip().rstrip("%").isdigit():
            raise typer.BadParameter(f"{pair!r}: write VARIANT=PERCENT, e.g. challenger=30")
        out[name.strip()] = int(pct.strip().rstrip("%"))
    return out


def _line(d: svc.Deployed) -> str:
    shares = ", ".join(f"{n} {s}%" for n, s in d.shares)
    when = f" from {d.active_from}" if d.active_from else ""
    retired = f" until {d.retired_from} (rolled back by {d.retired_by})" if d.retired_from else ""
    approved = f", approved by {d.approved_by}{when}" if d.approved_by else ""
    moves = ", moves open cases" if d.migrate_open_cases else ""
    return (
        f"{d.name} v{d.version}  {d.status.value}  deployed by {d.deployed_by}{approved}"
        f"{retired}{moves}" + (f"  [{shares}]" if shares else "") + f"  sha256 {d.sha256[:12]}"
    )


def _register_deployment(st: typer.Typer) -> None:
    @st.command("deploy")
    def deploy(
        ctx: typer.Context,
        file: Path,
        by: str = typer.Option(..., "--by", help="The strategist deploying (maker)."),
        migrate_open_cases: bool = typer.Option(
            False, "--migrate-open-cases", help="Move open cases to it too (each move recorded)."
        ),
    ) -> None:
        """Store FILE, checked, as a pending version; a second person approves it."""
        if not file.exists():
            _fail(FileNotFoundError(f"no such file: {file}"))
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                d = svc.deploy(
                    conn,
                    wired.keyring,
                    source=file.read_text(encoding="utf-8"),
                    path=str(file),
                    by=by,
                    migrate_open_cases=migrate_open_cases,
                    at=datetime.now(UTC),
                )
        except svc.ERRORS as exc:
            _fail(exc)
            return
        typer.echo(f"deployed {_line(d)}")
        if d.status is svc.VersionStatus.PENDING:
            typer.echo(
                f"another user approves it: arrears strategy approve {d.name} --version "
                f"{d.version} --by USER --from YYYY-MM-DD"
            )

    @st.command("approve")
    def approve(
        ctx: typer.Context,
        name: str,
        version: int = typer.Option(..., "--version", help="The deployed version."),
        by: str = typer.Option(..., "--by", help="The approver: not the one who deployed it."),
        from_: str = typer.Option(..., "--from", help="Business date it plans from."),
        share: list[str] = typer.Option(
            [], "--share", help="VARIANT=PERCENT of new cases (repeat; one may be left out)."
        ),
    ) -> None:
        """Put a pending version in force from a business date (maker–checker)."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                d = svc.approve(
                    conn,
                    wired.keyring,
                    name=name,
                    version=version,
                    by=by,
                    active_from=_date(from_),
                    shares=_shares(share),
                    at=datetime.now(UTC),
                )
        except svc.ERRORS as exc:
            _fail(exc)
            return
        typer.echo(f"approved {_line(d)}")

    @st.command("rollback")
    def rollback(
        ctx: typer.Context,
        name: str,
        by: str = typer.Option(..., "--by"),
        from_: str = typer.Option(..., "--from", help="Business date new cases go back from."),
    ) -> None:
        """Back to the version approved before (or the seed) for new cases; open cases keep
        theirs."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                done = svc.rollback(
                    conn, wired.keyring, name=name, by=by, from_=_date(from_), at=datetime.now(UTC)
                )
        except svc.ERRORS as exc:
            _fail(exc)
            return
        now = done.now_in_force
        back = f"{now.name} v{now.version}" if now else "the shipped seed"
        typer.echo(f"rolled back {_line(done.retired)}; new cases from {from_}: {back}")

    @st.command("list")
    def list_cmd(ctx: typer.Context) -> None:
        """Every deployed version, its approval and shares."""
        with app_of(ctx).engine.connect() as conn:
            found = svc.list_versions(conn)
        if not found:
            typer.echo("no strategy deployed: the daily run plans with the shipped seed")
        for d in found:
            typer.echo(_line(d))

    @st.command("show")
    def show_cmd(
        ctx: typer.Context,
        name: str,
        version: int = typer.Option(None, "--version", help="Default: the latest deployed."),
    ) -> None:
        """One deployed version: who, when, shares, and its YAML as deployed."""
        try:
            with app_of(ctx).engine.connect() as conn:
                d = svc.get_version(conn, name, version)
        except svc.ERRORS as exc:
            _fail(exc)
            return
        typer.echo(_line(d))
        typer.echo(f"sha256 {d.sha256}")
        typer.echo("---")
        typer.echo(d.source, nl=False)
