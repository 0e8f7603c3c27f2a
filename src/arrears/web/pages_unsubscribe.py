"""Where an e-mail's `List-Unsubscribe` link lands: `/unsubscribe/{key}?t={token}`.

A mail client's one-click POST (RFC 8058, body `List-Unsubscribe=One-Click`) opts the address
the message went to out of e-mail at once. A person who clicks the link gets a short page in the
borrower's language with one button that makes the same POST: a GET changes nothing, so link
scanners that fetch every URL in a mailbox cannot unsubscribe anyone.

The token is `arrears.channels.smtp.unsubscribe_token(key, secret)`. The web app reads the
secret where the dispatcher does: the channels file named by `$ARREARS_CHANNELS`, else
`./channels.yaml`, and each SMTP channel's `unsubscribe_secret_env` / `unsubscribe_secret`
(required whenever the URL carries a token). Without a channels file no token is valid. A bad
token or an unknown key is a bare 404, so the page never tells whether a message exists; the
page shows no name, amount or debt."""

from __future__ import annotations

import hmac
import os
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from arrears.api.context import context_of
from arrears.channels.config import build_adapter, load_channels_file
from arrears.channels.smtp import SmtpChannel, unsubscribe_token
from arrears.services.dispatch import email_recipient, unsubscribe_email
from arrears.web.i18n import pick, word
from arrears.web.render import render
from arrears.web.session import LANG_COOKIE, PageNotFound

router = APIRouter(include_in_schema=False)

_KEY = re.compile(r"arrears-([0-9]{1,18})")


def unsubscribe_secrets() -> list[bytes]:
    """The secrets the dispatcher signs unsubscribe links with, one per SMTP channel, read from
    the same channels file (`$ARREARS_CHANNELS`, else `./channels.yaml`)."""
    env = os.environ.get("ARREARS_CHANNELS")
    path = Path(env) if env else Path("channels.yaml")
    if not path.exists():
        return []
    spec = load_channels_file(path)
    secrets = []
    for name, adapter in spec.adapters.items():
        if adapter.get("kind") != "smtp":
            continue
        channel = build_adapter(name, adapter, spec.comms)
        assert isinstance(channel, SmtpChannel)
        if channel.settings.unsubscribe_secret:  # no secret: its links carry no token to check
            secrets.append(channel.settings.unsubscribe_secret)
    return secrets


def _outbox_id(key: str, token: str) -> int:
    """The outbox id the link names, when its token is right; else a 404 that says nothing."""
    match = _KEY.fullmatch(key)
    good = False
    for secret in unsubscribe_secrets():
        # compare every secret, so the time taken does not depend on which one matched
        good |= hmac.compare_digest(unsubscribe_token(key, secret), token)
    if not good or match is None:
        raise PageNotFound("")
    return int(match.group(1))


def _language(conn: Connection, request: Request, outbox_id: int) -> str:
    """The borrower's language; a 404 when no e-mail to a borrower has that id."""
    row = email_recipient(conn, outbox_id)
    if row is None:
        raise PageNotFound("")
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return pick(chosen or row.language)


def _page(request: Request, lang: str, key: str, token: str, done: bool) -> Response:
    response = render(
        request,
        "unsubscribe.html",
        lang,
        words={k: word(lang, f"unsubscribe.{k}") for k in ("title", "ask", "button", "done")},
        key=key,
        token=token,
        done=done,
        viewer=None,
    )
    # the token is in the URL: keep it out of search engines
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@router.get("/unsubscribe/{key}", response_class=HTMLResponse)
def unsubscribe_page(
    request: Request, key: str, token: Annotated[str, Query(alias="t")] = ""
) -> Response:
    """A person clicked the link: ask before changing anything."""
    outbox_id = _outbox_id(key, token)
    with context_of(request).begin() as conn:
        lang = _language(conn, request, outbox_id)
    return _page(request, lang, key, token, done=False)


# No CSRF check on this route, on purpose: RFC 8058 one-click POSTs come from mail providers'
# servers with no cookie and no session, so there is no CSRF token to send. The HMAC token in the
# URL is what authorises the request, and all it can do is opt one address out of e-mail.
@router.post("/unsubscribe/{key}", response_class=HTMLResponse)
def unsubscribe(
    request: Request, key: str, token: Annotated[str, Query(alias="t")] = ""
) -> Response:
    """One-click unsubscribe (or the button on the page): suppress the address for e-mail.
    Doing it twice changes nothing."""
    outbox_id = _outbox_id(key, token)
    ctx = context_of(request)
    with ctx.begin() as conn:
        lang = _language(conn, request, outbox_id)
        unsubscribe_email(conn, ctx.app.keyring, at=ctx.now(), outbox_id=outbox_id)
    return _page(request, lang, key, token, done=True)
