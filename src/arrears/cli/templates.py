"""`arrears templates list | preview | save | approve` — for the people who write messages.

`preview` renders a template exactly as the dispatcher would for a real case (the same context
loader, the same channel wording and segment count), with the case's personal data masked in
what it prints; without `--case` it uses example values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import Connection

from arrears.channels.base import ChannelConfigInvalid, OutgoingMessage
from arrears.channels.config import (
    CommsConfig,
    load_channels_file,
    parse_channels,
)
from arrears.channels.smpp import SmppChannel, text_for
from arrears.channels.sms_text import coding_of, segment_count
from arrears.cli import app_of
from arrears.compliance.templates import (
    CHANNELS,
    Audience,
    TemplateBook,
    TemplateInvalid,
    TemplateNotFound,
    TemplateRenderFailed,
    TemplateSpec,
    approve_template,
    approved_templates,
    list_templates,
    save_template,
    spec_from_text,
    text_to_html,
)
from arrears.domain.phone import mask_email, mask_name, mask_phone
from arrears.formats import format_minor
from arrears.privacy.keyring import KeyRing
from arrears.privacy.masking import mask_address
from arrears.services.dispatch import PreviewCaseNotFound, preview_context

# What a template author sees without a case: plausible values, nobody's data.
EXAMPLE = {
    "zh-CN": {
        "borrower_name": "张三",
        "borrower_first_name": "三",
        "contact_name": "李四",
        "overdue_amount": format_minor(123450, "CNY", "zh-CN"),
        "currency": "CNY",
        "due_date": "2026年3月1日",
        "dpd": 5,
        "instalment_amount": format_minor(50000, "CNY", "zh-CN"),
        "instalment_due": "2026年4月1日",
        "promise_amount": format_minor(80000, "CNY", "zh-CN"),
        "promise_due": "2026年3月10日",
    },
    "en": {
        "borrower_name": "Sam Example",
        "borrower_first_name": "Sam",
        "contact_name": "Lee Example",
        "overdue_amount": format_minor(123450, "CNY", "en"),
        "currency": "CNY",
        "due_date": "1 Mar 2026",
        "dpd": 5,
        "instalment_amount": format_minor(50000, "CNY", "en"),
        "instalment_due": "1 Apr 2026",
        "promise_amount": format_minor(80000, "CNY", "en"),
        "promise_due": "10 Mar 2026",
    },
}
EXAMPLE_ADDRESS = {
    "sms": "+8613800000000",
    "voice": "+8613800000000",
    "email": "someone@example.cn",
    "push": "B-example",
    "letter": "上海市浦东新区世纪大道1号",
}


@dataclass
class Preview:
    spec: TemplateSpec
    sent_version: int
    to: str | None
    subject: str | None
    body: str  # as the channel sends it (SMS: signature and opt-out added)
    html: str | None
    segments: int | None
    case_id: int | None


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _pick(
    conn: Connection, name: str, channel: str, language: str, version: int | None
) -> tuple[TemplateSpec, int]:
    """The version to preview (the one sent unless `version` names another), and the one sent."""
    chosen = approved_templates(conn)
    sent = TemplateBook(chosen).find(name, channel, language)
    if version is None:
        return sent, sent.version
    for spec in list_templates(conn):
        if spec.key == (name, channel, language) and spec.version == version:
            return spec, sent.version
    raise TemplateNotFound(f"no version {version} of {name}/{channel}/{language}")


def _masked(context: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(context)
    for slot in ("borrower_name", "borrower_first_name", "contact_name"):
        if isinstance(out.get(slot), str):
            out[slot] = mask_name(out[slot])
    link = out.get("link")
    if isinstance(link, str):  # the borrower's token opens their page: same length, hidden
        out["link"] = re.sub(r"[^/]+$", lambda m: "*" * len(m.group(0)), link)
    return out


def _mask_to(channel: str, address: str | None) -> str | None:
    if not address:
        return address
    if channel in ("sms", "voice"):
        return mask_phone(address)
    if channel == "email":
        return mask_email(address)
    if channel == "letter":
        return mask_address(address)
    return address


def _sms_channel(channels: Path | None) -> SmppChannel | None:
    """The SMS adapter whose wording (signature, opt-out) the preview adds; None: file sink."""
    spec = load_channels_file(channels) if channels else parse_channels({})
    adapters = spec.adapters if channels else {"sms": {"kind": "smpp"}}
    entry = adapters.get("sms") or adapters.get("*") or {}
    if entry.get("kind") != "smpp":
        return None
    wording = {k: v for k, v in entry.items() if k not in ("password", "password_env")}
    built = parse_channels({"channels": {"sms": wording}}).build().get("sms")  # not connected
    return built if isinstance(built, SmppChannel) else None


def preview(
    conn: Connection,
    keyring: KeyRing,
    *,
    name: str,
    channel: str,
    language: str,
    audience: Audience | None = None,
    case_id: int | None = None,
    contact_id: str | None = None,
    version: int | None = None,
    as_of: date | None = None,
    comms: CommsConfig | None = None,
    sms: SmppChannel | None = None,
) -> Preview:
    """A template rendered for one case (or example values), personal data masked."""
    comms = comms or CommsConfig()
    spec, sent_version = _pick(conn, name, channel, language, version)
    if audience is not None and spec.audience is not audience:
        raise TemplateRenderFailed(
            f"{spec.label} is a {spec.audience} template, not a {audience} one; the dispatcher "
            "would block it"
        )
    book = TemplateBook({spec.key: spec})
    if case_id is None:
        values: dict[str, Any] = dict(EXAMPLE.get(language, EXAMPLE["en"]))
        values.update(
            lender_name=comms.lender(language),
            callback_number=comms.callback_number,
            link=comms.example_link(),
        )
        address: str | None = EXAMPLE_ADDRESS.get(channel)
    else:
        values, address = preview_context(
            conn,
            keyring,
            comms,
            book,
            spec,
            case_id,
            contact_id,
            as_of or datetime.now(UTC).date(),
        )
    real = book.render(name, channel, language, values)
    # example values are nobody's: only a real case's personal data is masked
    shown = book.render(name, channel, language, values if case_id is None else _masked(values))
    body, segments = shown.body, None
    if channel == "sms":
        message = OutgoingMessage(
            0, channel, address or "", language, spec.audience.value, name, real.body
        )
        shown_message = OutgoingMessage(
            0, channel, "", language, spec.audience.value, name, shown.body
        )
        if sms is not None:
            segments = segment_count(text_for(message, sms.settings))
            body = text_for(shown_message, sms.settings)
        else:
            segments = segment_count(real.body)
    html = shown.html
    if channel == "email" and html is None:
        html = text_to_html(shown.body, lang=language)
    return Preview(
        spec,
        sent_version,
        _mask_to(channel, address) if case_id is not None else address,
        shown.subject,
        body,
        html,
        segments,
        case_id,
    )


def _status(spec: TemplateSpec, sent_version: int) -> str:
    state = "packaged default" if spec.version == 0 else spec.status
    return state + (", sent" if spec.version == sent_version else ", not sent")


def register(app: typer.Typer) -> None:
    cli = typer.Typer(no_args_is_help=True, help="Message templates: list, preview, save, approve.")
    app.add_typer(cli, name="templates")

    @cli.command("list")
    def list_cmd(
        ctx: typer.Context,
        channel: str = typer.Option(None, "--channel", help=" | ".join(CHANNELS)),
        language: str = typer.Option(None, "--language", help="zh-CN | en"),
    ) -> None:
        """Every template version; `*` marks the one the dispatcher sends."""
        with app_of(ctx).engine.connect() as conn:
            specs = list_templates(conn)
            sent = approved_templates(conn)
        for s in specs:
            if (channel and s.channel != channel) or (language and s.language != language):
                continue
            mark = "*" if sent.get(s.key) == s else " "
            status = "packaged" if s.version == 0 else s.status
            typer.echo(
                f"{mark} {s.name:<22} {s.channel:<7} {s.language:<6} v{s.version:<3} "
                f"{status:<9} {s.audience}"
            )

    @cli.command("preview")
    def preview_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Template name, e.g. reminder_day1."),
        channel: str = typer.Option("sms", "--channel", help=" | ".join(CHANNELS)),
        language: str = typer.Option("zh-CN", "--language", help="zh-CN | en"),
        audience: str = typer.Option(None, "--audience", help="borrower | contact"),
        case: int = typer.Option(None, "--case", help="Render for this case (masked)."),
        contact: str = typer.Option(None, "--contact", help="The contact, for contact templates."),
        version: int = typer.Option(None, "--version", help="A stored version (e.g. a draft)."),
        as_of: str = typer.Option(None, "--as-of", help="Business date YYYY-MM-DD (today)."),
        channels: Path = typer.Option(
            None, "--channels", help="Channels file: lender name, link base, SMS wording."
        ),
        show_html: bool = typer.Option(False, "--html", help="Print the email's HTML part."),
    ) -> None:
        """Render a template as the dispatcher would send it: subject, body, SMS segments."""
        wired = app_of(ctx)
        try:
            day = date.fromisoformat(as_of) if as_of else None
        except ValueError:
            raise _fail(f"--as-of {as_of!r} is not a date; write YYYY-MM-DD") from None
        try:
            comms = load_channels_file(channels).comms if channels else CommsConfig()
            # the link a send on that day would carry (masked when shown)
            link_day = day or datetime.now(UTC).date()
            comms.sign_links(wired.keyring, today=lambda: link_day)
            sms = _sms_channel(channels) if channel == "sms" else None
        except ChannelConfigInvalid as exc:
            raise _fail(str(exc)) from None
        try:
            with wired.engine.connect() as conn:
                shown = preview(
                    conn,
                    wired.keyring,
                    name=name,
                    channel=channel,
                    language=language,
                    audience=Audience(audience) if audience else None,
                    case_id=case,
                    contact_id=contact,
                    version=version,
                    as_of=day,
                    comms=comms,
                    sms=sms,
                )
        except ValueError as exc:
            if not isinstance(exc, TemplateRenderFailed):
                raise _fail(f"--audience {audience!r}: use borrower or contact") from None
            raise _fail(str(exc), 1) from None
        except (TemplateNotFound, PreviewCaseNotFound) as exc:
            raise _fail(str(exc)) from None
        spec = shown.spec
        typer.echo(f"template  {spec.label} ({_status(spec, shown.sent_version)})")
        typer.echo(f"audience  {spec.audience}")
        typer.echo(
            f"case      {shown.case_id} (personal data masked)"
            if shown.case_id is not None
            else "case      none: example values"
        )
        if shown.to:
            typer.echo(f"to        {shown.to}")
        if shown.subject is not None:
            typer.echo(f"subject   {shown.subject}")
        typer.echo("---")
        typer.echo(shown.body)
        typer.echo("---")
        if shown.segments is not None:
            coding = coding_of(shown.body).name
            typer.echo(
                f"segments  {shown.segments} ({coding}, {len(shown.body)} characters as sent)"
            )
        if shown.html is not None:
            if show_html:
                typer.echo(shown.html)
            else:
                typer.echo(f"html      {len(shown.html)} characters (--html to print)")

    @cli.command("save")
    def save_cmd(
        ctx: typer.Context,
        file: Path = typer.Argument(..., exists=True, readable=True, help="YAML header + body."),
        name: str = typer.Option(..., "--name"),
        channel: str = typer.Option(..., "--channel", help=" | ".join(CHANNELS)),
        language: str = typer.Option(..., "--language", help="zh-CN | en"),
        by: str = typer.Option(..., "--by", help="Who wrote it."),
    ) -> None:
        """Store FILE as a new draft version (checked first; every problem is listed)."""
        try:
            spec = spec_from_text(name, channel, language, file.read_text("utf-8"))
            with app_of(ctx).engine.begin() as conn:
                number = save_template(conn, spec, by=by, at=datetime.now(UTC))
        except TemplateInvalid as exc:
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
            raise typer.Exit(1) from None
        typer.echo(
            f"saved {name}/{channel}/{language} v{number} as a draft; preview it with "
            f"`arrears templates preview {name} --channel {channel} --language {language} "
            f"--version {number}` and have someone else approve it"
        )

    @cli.command("approve")
    def approve_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(...),
        channel: str = typer.Option(..., "--channel"),
        language: str = typer.Option(..., "--language"),
        version: int = typer.Option(..., "--version"),
        by: str = typer.Option(..., "--by", help="The approver (not the author)."),
    ) -> None:
        """Approve a draft: from now on the dispatcher sends it."""
        try:
            with app_of(ctx).engine.begin() as conn:
                approve_template(
                    conn, name, channel, language, version, by=by, at=datetime.now(UTC)
                )
        except (TemplateNotFound, PermissionError) as exc:
            raise _fail(str(exc)) from None
        except TemplateInvalid as exc:
            raise _fail(str(exc), 1) from None
        typer.echo(f"approved {name}/{channel}/{language} v{version}; it is sent from now on")
