"""`arrears complaint …`: the complaints register (receive, assign, answer, close, list, report)
and `arrears outreach request`: one outreach asked for by hand, judged by the gate."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import typer

from arrears.cli import app_of
from arrears.cli.run import parse_date
from arrears.compliance.loading import RulePackUnavailable
from arrears.services import complaints as svc
from arrears.services import outreach

_ERRORS = (
    svc.ComplaintValueUnknown,
    svc.ComplaintNotFound,
    svc.ComplaintTargetUnknown,
    svc.ComplaintOwnerUnknown,
    svc.ComplaintStateWrong,
    svc.ComplaintTextInvalid,
    outreach.OutreachRefused,
    RulePackUnavailable,
)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _line(c: svc.Complaint, on: date) -> str:
    late = "  OVERDUE" if c.overdue(on) else ""
    paused = "  outreach paused" if c.pause_outreach and c.status != "closed" else ""
    answered = f"  answered {c.answered_on} ({c.outcome})" if c.answered_on else ""
    return (
        f"{c.id}  borrower {c.borrower_id}  case {c.case_id or '-'}  {c.status}  "
        f"{c.category} by {c.channel} on {c.received_on}  owner {c.owner or '-'}  "
        f"due {c.due_on}{answered}{paused}{late}"
    )


def _write(ctx: typer.Context, act: Callable[..., svc.Complaint], **kw: Any) -> svc.Complaint:
    wired = app_of(ctx)
    with wired.engine.begin() as conn:
        try:
            return act(conn, wired.keyring, at=datetime.now(UTC), **kw)
        except _ERRORS as exc:
            _fail(exc)
            raise  # unreachable: _fail exits


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a moment; write 2026-03-16T09:30+08:00"
        ) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no offset; write 2026-03-16T09:30+08:00")
    return moment


def register(app: typer.Typer) -> None:
    cli = typer.Typer(
        no_args_is_help=True,
        help="Complaints: received, assigned, answered within the rule pack's days, closed.",
    )
    app.add_typer(cli, name="complaint")

    @cli.command("receive")
    def receive_cmd(
        ctx: typer.Context,
        channel: str = typer.Option(
            ..., "--channel", help="phone, email, letter, web, regulator, agency"
        ),
        category: str = typer.Option(
            ...,
            "--category",
            help="conduct, contact_frequency, third_party_disclosure, amount_disputed, "
            "vulnerability, other",
        ),
        summary: str = typer.Option(..., "--summary", help="What the borrower complains of."),
        on: str = typer.Option(..., "--on", help="Business date it was received (YYYY-MM-DD)."),
        by: str = typer.Option(..., "--by", help="Who records it."),
        borrower: str = typer.Option(None, "--borrower"),
        case: int = typer.Option(None, "--case"),
        owner: str = typer.Option(None, "--owner", help="The user who answers it."),
        pause: bool = typer.Option(
            False, "--pause-outreach", help="No outreach to the borrower until it is closed."
        ),
    ) -> None:
        """Register a complaint; its due date follows the borrower's rule pack.

        Example: arrears complaint receive --borrower B1 --channel phone --category conduct
        --summary "rude caller" --on 2026-03-16 --by lead1 --pause-outreach
        """
        c = _write(
            ctx,
            svc.receive_complaint,
            channel=channel,
            category=category,
            summary=summary,
            on=parse_date(on),
            by=by,
            borrower_id=borrower,
            case_id=case,
            owner=owner,
            pause_outreach=pause,
        )
        paused = "; outreach paused until it is closed" if c.pause_outreach else ""
        typer.echo(f"complaint {c.id} received; answer due by {c.due_on}{paused}")

    @cli.command("assign")
    def assign_cmd(
        ctx: typer.Context,
        complaint: int = typer.Argument(...),
        owner: str = typer.Option(..., "--owner"),
        by: str = typer.Option(..., "--by"),
    ) -> None:
        """Give an open complaint to an owner."""
        c = _write(ctx, svc.assign_complaint, complaint_id=complaint, owner=owner, by=by)
        typer.echo(f"complaint {c.id} assigned to {c.owner}; due {c.due_on}")

    @cli.command("answer")
    def answer_cmd(
        ctx: typer.Context,
        complaint: int = typer.Argument(...),
        response: str = typer.Option(..., "--response", help="The final response sent."),
        outcome: str = typer.Option(..., "--outcome", help="upheld, partly_upheld, rejected"),
        on: str = typer.Option(..., "--on"),
        by: str = typer.Option(..., "--by"),
    ) -> None:
        """Record the final response of an open complaint."""
        c = _write(
            ctx,
            svc.answer_complaint,
            complaint_id=complaint,
            response=response,
            outcome=outcome,
            on=parse_date(on),
            by=by,
        )
        late = " (after its due date)" if c.answered_on and c.answered_on > c.due_on else ""
        typer.echo(f"complaint {c.id} answered ({c.outcome}) in {c.days_to_answer()} days{late}")

    @cli.command("close")
    def close_cmd(
        ctx: typer.Context,
        complaint: int = typer.Argument(...),
        on: str = typer.Option(..., "--on"),
        by: str = typer.Option(..., "--by"),
    ) -> None:
        """Close an answered complaint; a pause it asked for ends with the borrower's last one."""
        c = _write(ctx, svc.close_complaint, complaint_id=complaint, on=parse_date(on), by=by)
        resumed = "; outreach resumes at the next run" if c.pause_outreach else ""
        typer.echo(f"complaint {c.id} closed{resumed}")

    @cli.command("list")
    def list_cmd(
        ctx: typer.Context,
        on: str = typer.Option(None, "--on", help="Business date for 'overdue' (today)."),
        status: str = typer.Option(None, "--status", help="open, answered, closed (all)"),
        owner: str = typer.Option(None, "--owner"),
        overdue: bool = typer.Option(False, "--overdue", help="Only the overdue ones."),
    ) -> None:
        """Complaints, the overdue first, then by due date."""
        day = parse_date(on) if on else date.today()
        wired = app_of(ctx)
        with wired.engine.connect() as conn:
            try:
                found = svc.list_complaints(
                    conn,
                    wired.keyring,
                    on=day,
                    status=status,
                    owner=owner,
                    overdue_only=overdue,
                )
            except _ERRORS as exc:
                _fail(exc)
                return
        if not found:
            typer.echo("no complaints")
        for c in found:
            typer.echo(_line(c, day))

    @cli.command("report")
    def report_cmd(
        ctx: typer.Context,
        on: str = typer.Option(None, "--on", help="Business date for 'overdue' (today)."),
        start: str = typer.Option(None, "--from", help="Received on or after."),
        end: str = typer.Option(None, "--to", help="Received on or before."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Counts by category, channel, outcome and status; median days to answer; by month."""
        day = parse_date(on) if on else date.today()
        with app_of(ctx).engine.connect() as conn:
            r = svc.complaint_report(
                conn,
                on=day,
                start=parse_date(start) if start else None,
                end=parse_date(end) if end else None,
            )
        if as_json:
            typer.echo(json.dumps(r.as_dict(), ensure_ascii=False, indent=2))
            return
        median = "-" if r.median_days_to_answer is None else f"{r.median_days_to_answer:g}"
        typer.echo(
            f"complaints as of {r.on}: {r.total} received, {r.open} open ({r.overdue} overdue), "
            f"{r.answered} answered, {r.closed} closed; {r.answered_late} answered late; "
            f"median days to answer {median}"
        )
        for title, counts in (
            ("category", r.by_category),
            ("channel", r.by_channel),
            ("outcome", r.by_outcome),
        ):
            typer.echo(f"by {title}: " + (", ".join(f"{k} {n}" for k, n in counts.items()) or "-"))
        for m in r.by_month:
            med = "-" if m.median_days_to_answer is None else f"{m.median_days_to_answer:g}"
            typer.echo(
                f"{m.month}  received {m.received}  answered {m.answered}  "
                f"late {m.answered_late}  median days {med}"
            )

    out = typer.Typer(no_args_is_help=True, help="Outreach asked for by hand, through the gate.")
    app.add_typer(out, name="outreach")

    @out.command("request")
    def request_cmd(
        ctx: typer.Context,
        case: int = typer.Argument(...),
        channel: str = typer.Option(..., "--channel", help=", ".join(outreach.CHANNELS)),
        by: str = typer.Option(..., "--by", help="The agent who asks."),
        target: str = typer.Option("borrower", "--target", help="borrower or contact"),
        contact: str = typer.Option(None, "--contact", help="The contact's id (to a contact)."),
        template: str = typer.Option(None, "--template"),
        at: str = typer.Option(
            None, "--at", help="The moment asked for, ISO with an offset (now)."
        ),
    ) -> None:
        """Ask for one call or message now; the gate allows, defers or blocks it (recorded).
        Exit status 1 when the gate blocks it.

        Example: arrears outreach request 42 --channel call --by spec1
        """
        moment = _moment(at) if at else datetime.now(UTC)
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            try:
                done = outreach.request_by_hand(
                    conn,
                    case_id=case,
                    channel=channel,
                    by=by,
                    at=moment,
                    target=target,
                    contact_id=contact,
                    template=template,
                )
            except _ERRORS as exc:
                _fail(exc)
                return
        v = done.verdict
        head = f"action {done.action_id}: {done.channel} to the {done.target_type}"
        if v.allowed:
            then = "queued for sending" if done.queued else "allowed now"
            typer.echo(f"{head} {then}")
            return
        when = f"; next allowed {v.next_allowed_at:%Y-%m-%d %H:%M} UTC" if v.next_allowed_at else ""
        done_word = "blocked" if v.kind == "block" else "deferred"
        typer.echo(f"{head} {done_word} by {v.rule_id}: {v.reason}{when}")
        raise typer.Exit(1 if v.kind == "block" else 0)
