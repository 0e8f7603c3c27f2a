"""The borrower's self-service page, opened from the link in a message.

The borrower proves who they are — a one-time code sent to their own phone, or the last four
digits of their ID number — before anything is shown. Tries are counted per borrower and
source, atomically and before the answer is checked (`services.auth.borrower_limits`): five
from one source lock that source out of this borrower's page for 30 minutes. The
page then shows what is due, takes a promise to pay, lets them pick one of the plans on offer
and says how to pay."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from arrears.api.context import Context, context_of
from arrears.domain.errors import DomainError
from arrears.domain.money import Money
from arrears.domain.phone import mask_phone
from arrears.domain.plans import PlanLimits, PlanTerms
from arrears.privacy.links import Link, LinkInvalid, read_token
from arrears.services import borrower_links as bl
from arrears.services import cases as aq
from arrears.services.auth import (
    borrower_limits,
    give_back,
    locked,
    open_borrower_link,
    sha256,
    take_try,
)
from arrears.web.i18n import pick
from arrears.web.render import render
from arrears.web.session import LANG_COOKIE, PageNotFound, is_secure

router = APIRouter(include_in_schema=False)

COOKIE = "arrears_borrower"
MAX_FAILURES = 5
CODE_TTL = timedelta(minutes=10)
RESEND_AFTER = timedelta(seconds=60)
SESSION_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class Offer:
    """A plan the page offers: instalments every month from `start_in_days` after today."""

    instalments: int
    start_in_days: int = 7

    def terms(self, today: date) -> PlanTerms:
        return PlanTerms(self.instalments, today + timedelta(days=self.start_in_days))


# The seed strategy's self-service offers; a borrower may agree these alone (no waiver).
OFFERS = (Offer(2), Offer(3), Offer(6))
BORROWER_LIMITS_INSTALMENTS = 6


@dataclass
class Visit:
    ctx: Context
    link: Link
    token: str
    token_hash: str
    row: Any
    today: date
    now: datetime
    lang: str


def _aware(value: datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)


def _visit(request: Request, conn: Connection, token: str) -> Visit:
    ctx = context_of(request)
    today, now = ctx.today(conn), ctx.now()
    try:
        link = read_token(ctx.app.keyring, token, today)
    except LinkInvalid as exc:
        raise PageNotFound(str(exc)) from None
    # a short token names the case alone: the borrower is the case's (a first-format token
    # names both, and must agree)
    borrower_id = bl.borrower_of_case(conn, link.case_id)
    if borrower_id is None or link.borrower_id not in (None, borrower_id):
        raise PageNotFound(str(LinkInvalid()))
    link = replace(link, borrower_id=borrower_id)
    token_hash = sha256(token)
    row = bl.link_row(conn, token_hash)
    if row is None:  # the first open; twenty at once are one
        open_borrower_link(
            conn,
            token_hash=token_hash,
            borrower_id=borrower_id,
            case_id=link.case_id,
            now=now,
            expires_at=datetime.combine(link.valid_until, datetime.max.time(), now.tzinfo),
        )
        row = bl.link_row(conn, token_hash)
    language = bl.borrower_language(conn, borrower_id)
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return Visit(ctx, link, token, token_hash, row, today, now, pick(chosen or language))


def _verified(request: Request, visit: Visit) -> str | None:
    """The borrower's session id when this browser proved who it is for this link."""
    sid = request.cookies.get(COOKIE)
    row = visit.row
    until = _aware(row.verified_until, visit.now)
    if not sid or not row.verified_session_hash or until is None or until <= visit.now:
        return None
    if not hmac.compare_digest(row.verified_session_hash, sha256(sid)):
        return None
    return sid


def _csrf(ctx: Context, sid: str) -> str:
    return hmac.new(ctx.secret, f"borrower:{sid}".encode(), "sha256").hexdigest()[:32]


def _phone(conn: Connection, visit: Visit) -> str:
    blob = bl.borrower_phone_enc(conn, visit.link.borrower_id or "")
    return visit.ctx.app.keyring.decrypt(blob) or ""


def _limits(request: Request, visit: Visit) -> list[Any]:
    remote = request.client.host if request.client else None
    assert visit.link.borrower_id is not None
    return borrower_limits(visit.ctx.secret, visit.link.borrower_id, remote)


def _locked(request: Request, conn: Connection, visit: Visit) -> bool:
    return locked(conn, _limits(request, visit), visit.now) is not None


def _verify_page(
    request: Request,
    conn: Connection,
    visit: Visit,
    *,
    message: str = "",
    error: str = "",
    status_code: int = 200,
) -> Response:
    is_locked = _locked(request, conn, visit)
    return render(
        request,
        "borrower_verify.html",
        visit.lang,
        status_code=status_code,
        token=visit.token,
        phone=mask_phone(_phone(conn, visit)),
        message=message,
        error=error,
        locked=is_locked,
        viewer=None,
    )


def _home(
    request: Request,
    conn: Connection,
    visit: Visit,
    sid: str,
    done: str = "",
    error: str = "",
    status_code: int = 200,
) -> Response:
    from arrears.services.plans import arrears_by_component, preview_plan

    case = aq.case_by_id(conn, visit.link.case_id)
    parts = arrears_by_component(conn, case.id, visit.today)
    total = sum(parts.values(), Money.zero(case.currency))
    plans = aq.plans_of(conn, case.id)
    current = next(((p, i) for p, i in plans if p.status in ("active", "proposed")), None)
    promises = [p for p in aq.promises_of(conn, case.id) if p.status == "open"]
    offers = []
    if current is None and case.status == "open" and not total.is_zero():
        for n, offer in enumerate(OFFERS):
            try:
                offers.append(
                    (n, preview_plan(conn, case.id, offer.terms(visit.today), visit.today))
                )
            except DomainError:
                continue
    return render(
        request,
        "borrower_home.html",
        visit.lang,
        status_code=status_code,
        token=visit.token,
        case=case,
        parts=parts,
        total=total,
        current=current,
        promises=promises,
        offers=offers,
        csrf=_csrf(visit.ctx, sid),
        done=done,
        error=error,
        today=visit.today,
        latest_promise=visit.today + timedelta(days=30),
        viewer=None,
    )


@router.get("/b/{token}", response_class=HTMLResponse)
def borrower_page(request: Request, token: str, done: str = "") -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        visit = _visit(request, conn, token)
        sid = _verified(request, visit)
        if sid is None:
            return _verify_page(request, conn, visit)
        return _home(request, conn, visit, sid, done=done)


@router.post("/b/{token}/code", response_class=HTMLResponse)
def send_code(request: Request, token: str) -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        visit = _visit(request, conn, token)
        row = visit.row
        if _locked(request, conn, visit):
            return _verify_page(request, conn, visit, status_code=429)
        sent_until = _aware(row.otp_expires_at, visit.now)
        if sent_until is not None and sent_until - CODE_TTL + RESEND_AFTER > visit.now:
            return _verify_page(request, conn, visit, message="code_sent")
        code = f"{secrets.randbelow(10**6):06d}"
        bl.remember_code(
            conn, visit.token_hash, sha256(f"{visit.token_hash}:{code}"), visit.now + CODE_TTL
        )
        phone = _phone(conn, visit)
        text = (
            f"验证码 {code}，10分钟内有效。请勿告诉他人。"
            if visit.lang == "zh"
            else f"Your code is {code}; it works for 10 minutes. Do not share it."
        )
        ctx.send_otp(phone, text)
        return _verify_page(request, conn, visit, message="code_sent")


@router.post("/b/{token}/verify", response_class=HTMLResponse)
def verify(
    request: Request,
    token: str,
    code: Annotated[str, Form(max_length=12)] = "",
    id_last4: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    ctx = context_of(request)
    with ctx.begin() as conn:
        visit = _visit(request, conn, token)
    limits = _limits(request, visit)
    # one try is taken (and committed) before the answer is checked: concurrent tries cannot
    # get more than the limit checked
    if take_try(ctx.engine, limits, visit.now) is not None:
        with ctx.begin() as conn:
            return _verify_page(request, conn, visit, status_code=429)
    with ctx.begin() as conn:
        visit = _visit(request, conn, token)
        row = visit.row
        ok = False
        if code.strip():
            expires = _aware(row.otp_expires_at, visit.now)
            ok = bool(
                row.otp_hash
                and expires is not None
                and expires > visit.now
                and hmac.compare_digest(row.otp_hash, sha256(f"{visit.token_hash}:{code.strip()}"))
            )
        elif id_last4.strip():
            blob = bl.borrower_id_number_enc(conn, visit.link.borrower_id or "")
            id_number = ctx.app.keyring.decrypt(blob) or ""
            ok = len(id_number) >= 4 and hmac.compare_digest(
                id_number[-4:].upper(), id_last4.strip().upper()
            )
        if not ok:
            return _verify_page(request, conn, visit, error="wrong", status_code=401)
        give_back(conn, reset=limits[:2], refund=limits[2:])
        sid = secrets.token_urlsafe(32)
        bl.mark_verified(conn, visit.token_hash, sha256(sid), visit.now + SESSION_TTL)
    response = RedirectResponse(f"/b/{token}", status_code=303)
    response.set_cookie(
        COOKIE,
        sid,
        httponly=True,
        secure=is_secure(request, ctx),
        samesite="strict",
        path="/b/",
        max_age=int(SESSION_TTL.total_seconds()),
    )
    return response


def _checked(request: Request, conn: Connection, token: str, csrf: str) -> tuple[Visit, str]:
    visit = _visit(request, conn, token)
    sid = _verified(request, visit)
    if sid is None or not hmac.compare_digest(_csrf(visit.ctx, sid), csrf):
        raise PageNotFound("please open the link again and verify it is you")
    return visit, sid


@router.post("/b/{token}/promise")
def promise(
    request: Request,
    token: str,
    due_on: Annotated[date, Form()],
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    from arrears.services.plans import arrears_by_component
    from arrears.services.promises import record_promise

    ctx = context_of(request)
    with ctx.begin() as conn:
        visit, sid = _checked(request, conn, token, csrf)
        if not visit.today <= due_on <= visit.today + timedelta(days=30):
            return _home(request, conn, visit, sid, error="promise_window", status_code=422)
        case = aq.case_by_id(conn, visit.link.case_id)
        parts = arrears_by_component(conn, case.id, visit.today)
        total = sum(parts.values(), Money.zero(case.currency))
        if total.is_zero():
            return _home(request, conn, visit, sid, error="nothing_due", status_code=422)
        record_promise(
            conn,
            case_id=case.id,
            amount=total,
            due_on=due_on,
            made_on=visit.today,
            agent="borrower",
        )
    return RedirectResponse(f"/b/{token}?done=promise", status_code=303)


@router.post("/b/{token}/plan")
def choose_plan(
    request: Request,
    token: str,
    offer: Annotated[int, Form(ge=0, le=len(OFFERS) - 1)],
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    from arrears.services.plans import propose_plan

    ctx = context_of(request)
    with ctx.begin() as conn:
        visit, sid = _checked(request, conn, token, csrf)
        case = aq.case_by_id(conn, visit.link.case_id)
        busy = bl.pending_or_active_plan(conn, case.id)
        if busy is not None or case.status != "open":
            return _home(request, conn, visit, sid, error="plan_exists", status_code=409)
        try:
            propose_plan(
                conn,
                case_id=case.id,
                terms=OFFERS[offer].terms(visit.today),
                proposed_on=visit.today,
                by="borrower",
                limits=PlanLimits(BORROWER_LIMITS_INSTALMENTS, Money.zero(case.currency)),
                reason="chosen on the borrower page",
            )
        except DomainError as exc:
            conn.rollback()
            with ctx.begin() as again:
                return _home(
                    request,
                    again,
                    _visit(request, again, token),
                    sid,
                    error=str(exc),
                    status_code=422,
                )
    return RedirectResponse(f"/b/{token}?done=plan", status_code=303)


@router.post("/b/{token}/dispute")
def dispute(
    request: Request,
    token: str,
    reason: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The borrower disputes the debt on their page: collection of the case pauses until the
    dispute is verified or withdrawn (`services/disputes.py`)."""
    from arrears.services.disputes import DisputeSource, record_dispute

    ctx = context_of(request)
    with ctx.begin() as conn:
        visit, sid = _checked(request, conn, token, csrf)
        if not reason.strip():
            return _home(request, conn, visit, sid, error="dispute_reason", status_code=422)
        record_dispute(
            conn,
            source=DisputeSource.BORROWER,
            on=visit.today,
            by="borrower",
            at=visit.now,
            case_id=visit.link.case_id,
            reason=reason.strip(),
            keyring=ctx.app.keyring,
        )
    return RedirectResponse(f"/b/{token}?done=dispute", status_code=303)
