"""`arrears legal …`: the legal stage — the rules the daily run refers cases with, a referral by
hand, the legal queue, moving a legal case along, and the demand letter (docs/late-stages.md,
"Legal")."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from arrears.cli import app_of
from arrears.cli.run import parse_date
from arrears.domain.legal import LegalStatusUnknown, LegalTransitionInvalid
from arrears.services import legal as svc

_ERRORS = (
    svc.LegalRuleInvalid,
    svc.LegalCaseNotFound,
    svc.LegalReferralRefused,
    svc.LegalUserRefused,
    svc.LegalLetterRequired,
    svc.LegalDocumentNotFound,
    svc.LegalDocumentUnavailable,
    LegalTransitionInvalid,
    LegalStatusUnknown,
)
BY = typer.Option(..., "--by", help="Your user name (audited; the role decides what you may do).")
AS_OF = typer.Option(..., "--as-of", help="Business date, YYYY-MM-DD.")


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _line(case: svc.LegalCase) -> str:
    money = svc.balance_text(case.balance_at_referral, case.currency, "en")
    how = f"rule {case.rule_id}" if case.rule_id is not None else "by hand"
    docs = ", ".join(f"{d.kind} #{d.id} ({d.language})" for d in case.documents)
    return (
        f"case {case.case_id}  {case.status:<18}  referred {case.referred_on} by "
        f"{case.referred_by} ({how}) at DPD {case.dpd_at_referral}, {money}; DPD now {case.dpd}"
        + (f"; {docs}" if docs else "")
    )


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a moment; write e.g. 2026-12-01T10:00+08:00"
        ) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no time zone; add one, e.g. +08:00")
    return moment


def _write(path: Path, pdf: bytes) -> None:
    """The PDF names the borrower: readable by its owner only, never written over a file."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pdf)


def register(app: typer.Typer) -> None:
    cli = typer.Typer(no_args_is_help=True, help="The legal stage: referrals, status, letters.")
    rules = typer.Typer(no_args_is_help=True, help="Which cases the daily run refers to legal.")
    app.add_typer(cli, name="legal")
    cli.add_typer(rules, name="rule")

    @rules.command("add")
    def rule_add(
        ctx: typer.Context,
        min_dpd: int = typer.Option(..., "--min-dpd", help="Refer from this DPD, e.g. 120."),
        currency: str = typer.Option(None, "--currency", help="Only cases in this currency."),
        min_balance: str = typer.Option(
            "0", "--min-balance", help="Least balance owed, in --currency, e.g. 1000.00."
        ),
        with_active_plan: bool = typer.Option(
            False, "--with-active-plan", help="Refer cases with an active plan too."
        ),
        priority: int = typer.Option(100, "--priority", help="Lower is tried first."),
        by: str = BY,
    ) -> None:
        """Add a legal referral rule (the daily run applies it)."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                rule = svc.add_rule(
                    conn,
                    min_dpd=min_dpd,
                    currency=currency,
                    min_balance=min_balance,
                    no_active_plan=not with_active_plan,
                    priority=priority,
                    by=by,
                    at=datetime.now(UTC),
                    ring=wired.keyring,
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(f"legal rule {rule.id} added: {_rule(rule)}")

    def _rule(rule: svc.LegalRule) -> str:
        least = (
            f", balance ≥ {svc.balance_text(rule.min_balance, rule.currency, 'en')}"
            if rule.currency
            else ""
        )
        plan = "" if rule.no_active_plan else ", with an active plan too"
        return f"DPD ≥ {rule.min_dpd}{least}{plan}, priority {rule.priority}"

    @rules.command("list")
    def rule_list(ctx: typer.Context) -> None:
        """The legal rules, in the order they are tried."""
        with app_of(ctx).engine.connect() as conn:
            found = svc.list_rules(conn)
        if not found:
            typer.echo("no legal rules; add one with `arrears legal rule add`")
        for rule in found:
            state = "" if rule.active else " (inactive)"
            typer.echo(f"{rule.id}  {_rule(rule)}{state}")

    @cli.command("refer")
    def refer_cmd(
        ctx: typer.Context,
        case_id: int = typer.Argument(..., help="The case number."),
        as_of: str = AS_OF,
        by: str = BY,
        note: str = typer.Option(None, "--note", help="Why (kept with the referral)."),
    ) -> None:
        """Refer a case to legal by hand (a team lead or a manager)."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                case = svc.refer(
                    conn,
                    case_id,
                    parse_date(as_of),
                    by=by,
                    at=datetime.now(UTC),
                    ring=wired.keyring,
                    note=note,
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(_line(case))

    @cli.command("list")
    def list_cmd(
        ctx: typer.Context,
        status: str = typer.Option(
            None, "--status", help="Only this status (e.g. filed); `all`: ended ones too."
        ),
    ) -> None:
        """The legal queue: cases in legal now, newest referral first."""
        try:
            with app_of(ctx).engine.connect() as conn:
                found = svc.list_cases(
                    conn,
                    status=None if status in (None, "all") else status,
                    live_only=status is None,
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        if not found:
            typer.echo("no cases in legal")
        for case in found:
            typer.echo(_line(case))

    @cli.command("show")
    def show_cmd(ctx: typer.Context, case_id: int = typer.Argument(...)) -> None:
        """A case's legal case: its status, documents and every move (who, when)."""
        try:
            with app_of(ctx).engine.connect() as conn:
                case = svc.get_case(conn, case_id)
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(_line(case))
        if case.next_statuses:
            typer.echo("next: " + ", ".join(case.next_statuses))
        for e in case.events:
            was = e.from_status or "—"
            note = f"  ({e.note})" if e.note else ""
            typer.echo(
                f"  {e.business_date}  {was} → {e.to_status}  by {e.by} at {e.at:%H:%M}{note}"
            )
        for d in case.documents:
            typer.echo(f"  document {d.id}: {d.kind} ({d.language}) sha256 {d.sha256}")

    @cli.command("advance")
    def advance_cmd(
        ctx: typer.Context,
        case_id: int = typer.Argument(...),
        to: str = typer.Option(
            ..., "--to", help="filed, judgment, enforcement, closed or withdrawn."
        ),
        as_of: str = AS_OF,
        by: str = BY,
        note: str = typer.Option(None, "--note"),
    ) -> None:
        """Move a legal case to its next status (the demand letter moves it to
        demand_letter_sent: `arrears legal letter`)."""
        wired = app_of(ctx)
        try:
            with wired.engine.begin() as conn:
                case = svc.advance(
                    conn,
                    case_id,
                    to,
                    parse_date(as_of),
                    by=by,
                    at=datetime.now(UTC),
                    ring=wired.keyring,
                    note=note,
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        typer.echo(_line(case))

    @cli.command("letter")
    def letter_cmd(
        ctx: typer.Context,
        case_id: int = typer.Argument(...),
        as_of: str = AS_OF,
        by: str = BY,
        out: Path = typer.Option(
            None, "--out", help="Where to write the PDF (default demand-letter-<case>.pdf)."
        ),
        channels: Path = typer.Option(
            None, "--channels", help="Channels file for the lender's name (default as dispatch)."
        ),
        at: str = typer.Option(
            None, "--at", help="The moment it is sent, ISO 8601 with a zone (default now)."
        ),
    ) -> None:
        """Make the demand letter (PDF, the borrower's language), if the rule pack allows a
        letter now; the case moves to demand_letter_sent."""
        wired = app_of(ctx)
        target = out or Path(f"demand-letter-{case_id}.pdf")
        if target.exists():
            _fail(FileExistsError(f"{target} exists; name another file with --out"))
        now = _moment(at) if at else datetime.now(UTC)
        pdf = b""
        try:
            with wired.engine.begin() as conn:  # the port's verdict is kept, whatever it is
                made = svc.send_demand_letter(
                    conn,
                    case_id,
                    parse_date(as_of),
                    by=by,
                    at=now,
                    ring=wired.keyring,
                    comms=svc.lender_comms(channels),
                )
                if made.document is not None:
                    _, pdf = svc.document_pdf(
                        conn, made.document.id, by=by, at=now, ring=wired.keyring
                    )
        except _ERRORS as exc:
            _fail(exc)
            return
        doc, verdict = made.document, made.verdict
        if doc is None:
            until = verdict.next_allowed_at
            when = f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""
            typer.echo(
                f"not sent: the rule pack says {verdict.kind}{when} "
                f"({verdict.rule_id}: {verdict.reason}); the case stays referred",
                err=True,
            )
            raise typer.Exit(3)
        _write(target, pdf)
        typer.echo(
            f"demand letter {doc.id} for case {case_id} ({doc.language}) written to {target}; "
            f"sha256 {doc.sha256}"
        )

    @cli.command("document")
    def document_cmd(
        ctx: typer.Context,
        document_id: int = typer.Argument(...),
        out: Path = typer.Option(..., "--out"),
        by: str = BY,
    ) -> None:
        """Write a legal document's PDF again (reading it is audited)."""
        wired = app_of(ctx)
        if out.exists():
            _fail(FileExistsError(f"{out} exists; name another file with --out"))
        try:
            with wired.engine.begin() as conn:
                doc, pdf = svc.document_pdf(
                    conn, document_id, by=by, at=datetime.now(UTC), ring=wired.keyring
                )
        except _ERRORS as exc:
            _fail(exc)
            return
        _write(out, pdf)
        typer.echo(f"{doc.kind} {doc.id} written to {out}; sha256 {doc.sha256}")
