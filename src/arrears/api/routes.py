"""HTTP API v1: the lender's systems feed borrowers, contacts, accounts, due items and payments,
and read cases, interactions, promises and plans."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from arrears.api.agency import router as agency_router
from arrears.api.complaints import router as complaints_router
from arrears.api.context import Context, context_of
from arrears.api.late import router as late_router
from arrears.api.problems import PROBLEM_RESPONSES, FieldError, ProblemError, field_error
from arrears.api.schemas import (
    AccountIn,
    AccountOut,
    BorrowerIn,
    BorrowerOut,
    CaseOut,
    CasePage,
    ContactIn,
    ContactOut,
    DisputeIn,
    DisputeOut,
    DueItemsIn,
    DueItemsOut,
    Id,
    InstalmentOut,
    InteractionOut,
    PaymentIn,
    PaymentOut,
    PlanOut,
    PromiseOut,
    WebhookIn,
    WebhookOut,
)
from arrears.api.security import require
from arrears.domain.phone import mask_name, mask_phone
from arrears.formats import plain_amount
from arrears.services import cases, disputes, feed, feed_rules
from arrears.services import import_formats as fmt
from arrears.services import webhooks as hooks
from arrears.services.auth import Integration, Scope, sha256
from arrears.services.webhooks import WebhookUrlRefused, check_url

router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)
T = TypeVar("T")

Ctx = Annotated[Context, Depends(context_of)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="unique per payment; the same key twice posts once",
    ),
]


def _field(check: Callable[..., T], field: str, *args: Any) -> T:
    """Validate one field with the importer's own rules (so a file and the API agree)."""
    try:
        return check(*args)
    except fmt.FieldInvalid as exc:
        raise field_error(field, str(exc)) from None


def _money(text: str, currency: str, field: str, *, positive: bool = False) -> int:
    _field(fmt.currency, "body.currency", currency)
    minor = _field(fmt.amount_minor, field, text.strip(), currency)
    if positive and minor == 0:
        raise field_error(field, "must be greater than zero")
    return minor


def _ppm(text: str, field: str) -> int:
    return _field(fmt.rate_ppm, field, text)


def _phone(text: str, field: str) -> str:
    return _field(fmt.phone, field, text)


def _breached(errors: list[tuple[str, str]]) -> ProblemError:
    """The feed's cross-field rules broken (the same the file import applies): a 422 naming
    every field at fault."""
    return ProblemError(
        422,
        "invalid-field",
        "; ".join(f"{field}: {detail}" for field, detail in errors[:3]),
        errors=[FieldError(field=field, detail=detail) for field, detail in errors],
    )


# --- borrowers and contacts -------------------------------------------------------------------


@router.put("/borrowers/{borrower_id}", response_model=BorrowerOut, tags=["borrowers"])
def put_borrower(
    borrower_id: Annotated[Id, Path()],
    body: BorrowerIn,
    ctx: Ctx,
    _: Annotated[Integration, Depends(require(Scope.BORROWERS_WRITE))],
) -> BorrowerOut:
    """Create or replace a borrower's details (personal data is encrypted at rest)."""
    ring = ctx.app.keyring
    phone = _phone(body.phone, "body.phone")
    if body.email is not None:
        _field(fmt.email, "body.email", body.email)
    _field(fmt.timezone, "body.timezone", body.timezone)
    jurisdiction = _field(fmt.jurisdiction, "body.jurisdiction", body.jurisdiction or "")
    with ctx.begin() as conn:
        row = feed.save_borrower(
            conn,
            {
                "id": borrower_id,
                "name_enc": ring.encrypt(body.name),
                "phone_enc": ring.encrypt(phone),
                "phone_index": ring.blind_index(phone),
                "email_enc": ring.encrypt(body.email),
                "id_number_enc": ring.encrypt(body.id_number),
                "address_enc": ring.encrypt(body.address),
                "timezone": body.timezone,
                "language": body.language,
                "region": body.region,
                "risk_score": body.risk_score,
                "jurisdiction": jurisdiction,
            },
        )
    return BorrowerOut(
        id=borrower_id,
        name_masked=mask_name(body.name),
        phone_masked=mask_phone(phone),
        phone_status=row.phone_status,
        language=row.language,
        region=row.region,
        risk_score=row.risk_score,
        jurisdiction=row.jurisdiction,
    )


@router.post(
    "/borrowers/{borrower_id}/disputes",
    response_model=DisputeOut,
    status_code=201,
    tags=["borrowers"],
)
def post_dispute(
    borrower_id: Annotated[Id, Path()],
    body: DisputeIn,
    ctx: Ctx,
    who: Annotated[Integration, Depends(require(Scope.BORROWERS_WRITE))],
) -> DisputeOut:
    """The borrower disputes the debt: collection of their case pauses until the dispute is
    verified or withdrawn (`arrears disputes`)."""
    with ctx.begin() as conn:
        _borrower_exists(conn, borrower_id, "path.borrower_id")
        dispute_id = disputes.record_dispute(
            conn,
            source=disputes.DisputeSource.API,
            on=body.raised_on,
            by=f"api:{who.name}"[:64],
            at=ctx.now(),
            borrower_id=borrower_id,
            account_id=body.account_id,
            reason=body.reason,
            keyring=ctx.app.keyring,
        )
        d = disputes.get_dispute(conn, dispute_id)
    return DisputeOut(
        id=d.id,
        borrower_id=d.borrower_id,
        case_id=d.case_id,
        status=d.status,
        owner=d.owner,
        due_on=d.due_on,
    )


def _borrower_exists(conn: Connection, borrower_id: str, field: str) -> None:
    if not feed.borrower_exists(conn, borrower_id):
        raise ProblemError(
            404 if field == "path.borrower_id" else 422,
            "borrower-unknown",
            f"no borrower {borrower_id!r}; PUT /api/v1/borrowers/{borrower_id} first",
            errors=[FieldError(field=field, detail="unknown borrower")],
        )


@router.put(
    "/borrowers/{borrower_id}/contacts/{contact_id}", response_model=ContactOut, tags=["borrowers"]
)
def put_contact(
    borrower_id: Annotated[Id, Path()],
    contact_id: Annotated[Id, Path()],
    body: ContactIn,
    ctx: Ctx,
    _: Annotated[Integration, Depends(require(Scope.BORROWERS_WRITE))],
) -> ContactOut:
    """Create or replace a designated contact. Setting status opted_out stops all calls to them;
    a contact the agents marked refused or wrong_number keeps that status."""
    ring = ctx.app.keyring
    phone = _phone(body.phone, "body.phone")
    _field(fmt.relationship, "body.relationship", body.relationship)
    with ctx.begin() as conn:
        _borrower_exists(conn, borrower_id, "path.borrower_id")
        owner = feed.contact_owner(conn, contact_id)
        if owner is not None and owner != borrower_id:
            raise field_error("path.contact_id", "this contact belongs to another borrower", 409)
        current = feed.contact_status(conn, contact_id)
        status: str = body.status
        if current in ("refused", "wrong_number", "opted_out") and status == "active":
            status = current  # agents' findings and opt-outs are not undone by a feed
        feed.save_contact(
            conn,
            {
                "id": contact_id,
                "borrower_id": borrower_id,
                "name_enc": ring.encrypt(body.name),
                "relationship": body.relationship,
                "phone_enc": ring.encrypt(phone),
                "phone_index": ring.blind_index(phone),
                "consent": body.consent,
                "status": status,
            },
        )
    return ContactOut(
        id=contact_id,
        borrower_id=borrower_id,
        name_masked=mask_name(body.name),
        relationship=body.relationship,
        phone_masked=mask_phone(phone),
        consent=body.consent,
        status=status,
    )


# --- accounts and due items ---------------------------------------------------------------------


def _account_out(row: Any) -> AccountOut:
    c = row.currency
    return AccountOut(
        id=row.id,
        borrower_id=row.borrower_id,
        product=row.product,
        currency=c,
        principal=plain_amount(row.principal, c),
        status=row.status,
        dpd=row.dpd,
        bucket=row.bucket,
        overdue_amount=plain_amount(row.overdue_amount, c),
        outstanding=plain_amount(row.outstanding, c),
    )


@router.put("/accounts/{account_id}", response_model=AccountOut, tags=["accounts"])
def put_account(
    account_id: Annotated[Id, Path()],
    body: AccountIn,
    ctx: Ctx,
    _: Annotated[Integration, Depends(require(Scope.ACCOUNTS_WRITE))],
) -> AccountOut:
    """Create or update an account (its state — DPD, bucket, amounts — is the daily run's)."""
    _field(fmt.product, "body.product", body.product)
    principal = _money(body.principal, body.currency, "body.principal")
    annual = _ppm(body.annual_rate, "body.annual_rate")
    penalty = _ppm(body.penalty_rate, "body.penalty_rate")
    with ctx.begin() as conn:
        _borrower_exists(conn, body.borrower_id, "body.borrower_id")
        existing = feed.account_by_id(conn, account_id)
        if existing is not None and existing.borrower_id != body.borrower_id:
            raise field_error("body.borrower_id", "an account cannot move to another borrower", 409)
        if existing is not None and existing.currency != body.currency:
            raise field_error("body.currency", f"the account is booked in {existing.currency}", 409)
        row = feed.save_account(
            conn,
            {
                "id": account_id,
                "borrower_id": body.borrower_id,
                "product": body.product,
                "currency": body.currency,
                "principal": principal,
                "annual_rate_ppm": annual,
                "penalty_rate_ppm": penalty,
                "opened_on": body.opened_on,
            },
        )
    return _account_out(row)


@router.put("/accounts/{account_id}/due-items", response_model=DueItemsOut, tags=["accounts"])
def put_due_items(
    account_id: Annotated[Id, Path()],
    body: DueItemsIn,
    ctx: Ctx,
    _: Annotated[Integration, Depends(require(Scope.ACCOUNTS_WRITE))],
) -> DueItemsOut:
    """Create or update the account's due items by sequence number; paid parts are kept."""
    seqs = [item.seq for item in body.items]
    if len(set(seqs)) != len(seqs):
        raise field_error("body.items", "each seq appears once")
    with ctx.begin() as conn:
        currency = feed.account_currency(conn, account_id)
        if currency is None:
            raise ProblemError(
                404, "account-unknown", f"no account {account_id!r}; PUT the account first"
            )
        items = [
            {
                "seq": item.seq,
                "due_on": item.due_on,
                "principal": _money(item.principal, currency, f"body.items.{n}.principal"),
                "interest": _money(item.interest, currency, f"body.items.{n}.interest"),
                "fee": _money(item.fee, currency, f"body.items.{n}.fee"),
            }
            for n, item in enumerate(body.items)
        ]
        breaches = feed_rules.check_due_items(conn, account_id, items)
        if breaches:
            raise _breached([(f"body.items.{n}.{b.column}", b.message) for n, b in breaches])
        feed.save_due_items(conn, account_id, items)
    return DueItemsOut(account_id=account_id, items=len(body.items))


# --- payments -----------------------------------------------------------------------------------


@router.post("/payments", response_model=PaymentOut, status_code=201, tags=["payments"])
def post_payment(
    body: PaymentIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    ctx: Ctx,
    integration: Annotated[Integration, Depends(require(Scope.PAYMENTS_WRITE))],
) -> PaymentOut:
    """Record a payment received; the daily run posts it by the account's waterfall. The same
    Idempotency-Key twice records it once (the second answer replays the first, status 200)."""
    request_hash = sha256(body.model_dump_json())
    payment_id = (
        body.payment_id or "api-" + sha256(f"{integration.token_id}:{idempotency_key}")[:24]
    )
    out = PaymentOut(
        payment_id=payment_id,
        account_id=body.account_id,
        amount="0",
        currency=body.currency,
        received_on=body.received_on,
    )
    now = ctx.now()
    try:
        with ctx.begin() as conn:
            minor = _money(body.amount, body.currency, "body.amount", positive=True)
            out.amount = plain_amount(minor, body.currency)
            # the key row first: a concurrent twin waits on it and then sees the conflict
            feed.claim_idempotency_key(
                conn,
                integration.token_id,
                idempotency_key,
                request_hash,
                out.model_dump_json(),
                201,
                now,
            )
            currency = feed.account_currency(conn, body.account_id)
            if currency is None:
                raise field_error("body.account_id", f"no account {body.account_id!r}")
            if currency != body.currency:
                raise field_error("body.currency", f"the account is booked in {currency}")
            breaches = feed_rules.check_payment(
                conn, body.account_id, minor, body.currency, body.received_on
            )
            if breaches:
                raise _breached([(f"body.{b.column}", b.message) for b in breaches])
            if feed.payment_exists(conn, payment_id):
                raise field_error("body.payment_id", "a payment with this id exists already", 409)
            feed.record_payment(
                conn, payment_id, body.account_id, minor, body.currency, body.received_on, "api"
            )
    except IntegrityError:
        with ctx.begin() as conn:
            stored = feed.idempotent_answer(conn, integration.token_id, idempotency_key)
        if stored is None:
            raise field_error(
                "body.payment_id", "a payment with this id exists already", 409
            ) from None
        if stored.request_hash != request_hash:
            raise ProblemError(
                422,
                "idempotency-key-reused",
                "this Idempotency-Key was used for a different payment; use a new key",
                errors=[FieldError(field="header.Idempotency-Key", detail="reused")],
            ) from None
        replay = PaymentOut.model_validate_json(stored.response)
        replay.replayed = True
        response.status_code = 200
        return replay
    return out


# --- reads --------------------------------------------------------------------------------------


def _case_out(row: Any) -> CaseOut:
    return CaseOut(
        id=row.id,
        borrower_id=row.borrower_id,
        status=row.status,
        opened_on=row.opened_on,
        closed_on=row.closed_on,
        currency=row.currency,
        dpd=row.dpd,
        bucket=row.bucket,
        overdue_amount=plain_amount(row.overdue_amount, row.currency),
        queue=row.queue,
        assigned_to=row.assigned_to,
        strategy=row.strategy,
        variant=row.variant,
        hardship=row.hardship,
    )


CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Reader = Annotated[Integration, Depends(require(Scope.CASES_READ))]


def _case_or_404(conn: Connection, case_id: int) -> Any:
    row = cases.case_by_id(conn, case_id)
    if row is None:
        raise ProblemError(404, "case-unknown", f"no case {case_id}")
    return row


@router.get("/cases", response_model=CasePage, tags=["cases"])
def get_cases(
    ctx: Ctx,
    _: Reader,
    status: Annotated[
        str | None, Query(pattern=r"^(open|cured|paid_off|settled|charged_off|sold)$")
    ] = None,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CasePage:
    """Cases in id order, a page at a time."""
    with ctx.begin() as conn:
        rows = cases.cases_page(conn, status, after, limit)
    items = [_case_out(r) for r in rows]
    return CasePage(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.get("/cases/{case_id}", response_model=CaseOut, tags=["cases"])
def get_case(case_id: CaseId, ctx: Ctx, _: Reader) -> CaseOut:
    with ctx.begin() as conn:
        return _case_out(_case_or_404(conn, case_id))


@router.get("/cases/{case_id}/interactions", response_model=list[InteractionOut], tags=["cases"])
def get_interactions(case_id: CaseId, ctx: Ctx, _: Reader) -> list[InteractionOut]:
    """Calls and messages of the case (notes stay in the workbench)."""
    with ctx.begin() as conn:
        _case_or_404(conn, case_id)
        rows = cases.interactions_of(conn, case_id)
    return [
        InteractionOut(
            id=r.id,
            occurred_at=r.occurred_at.isoformat()
            if isinstance(r.occurred_at, datetime)
            else str(r.occurred_at),
            business_date=r.business_date,
            channel=r.channel,
            target_type=r.target_type,
            outcome=r.outcome,
            hardship=r.hardship,
            agent=r.agent,
        )
        for r in rows
    ]


@router.get("/cases/{case_id}/promises", response_model=list[PromiseOut], tags=["cases"])
def get_promises(case_id: CaseId, ctx: Ctx, _: Reader) -> list[PromiseOut]:
    with ctx.begin() as conn:
        _case_or_404(conn, case_id)
        rows = cases.promises_of(conn, case_id)
    return [
        PromiseOut(
            id=r.id,
            made_on=r.made_on,
            due_on=r.due_on,
            amount=plain_amount(r.amount, r.currency),
            currency=r.currency,
            status=r.status,
            paid_amount=plain_amount(r.paid_amount, r.currency),
        )
        for r in rows
    ]


@router.get("/cases/{case_id}/plans", response_model=list[PlanOut], tags=["cases"])
def get_plans(case_id: CaseId, ctx: Ctx, _: Reader) -> list[PlanOut]:
    with ctx.begin() as conn:
        _case_or_404(conn, case_id)
        plans = cases.plans_of(conn, case_id)
    return [
        PlanOut(
            id=p.id,
            status=p.status,
            proposed_on=p.proposed_on,
            activated_on=p.activated_on,
            currency=p.currency,
            total=plain_amount(p.total, p.currency),
            waived=plain_amount(p.waived, p.currency),
            instalments=[
                InstalmentOut(
                    seq=i.seq,
                    due_on=i.due_on,
                    amount=plain_amount(i.amount, p.currency),
                    paid_amount=plain_amount(i.paid_amount, p.currency),
                    status=i.status,
                )
                for i in inst
            ],
        )
        for p, inst in plans
    ]


# --- webhooks -----------------------------------------------------------------------------------

Hooker = Annotated[Integration, Depends(require(Scope.WEBHOOKS_WRITE))]


@router.post("/webhooks", response_model=WebhookOut, status_code=201, tags=["webhooks"])
def post_webhook(body: WebhookIn, ctx: Ctx, _: Hooker) -> WebhookOut:
    """Subscribe a URL to events. Each delivery carries `X-Arrears-Signature: t=<unix>,
    v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`; the secret is shown once."""
    try:
        check_url(body.url, allow_private=ctx.app.settings.webhook_allow_private)
    except WebhookUrlRefused as exc:
        raise ProblemError(422, "webhook-url-refused", str(exc)) from None
    secret = "whsec_" + secrets.token_urlsafe(24)
    events: list[str] = sorted(set(body.events))
    with ctx.begin() as conn:
        hook_id = hooks.subscribe(
            conn, body.url, events, ctx.app.keyring.encrypt(secret), ctx.now()
        )
    return WebhookOut(id=hook_id, url=body.url, events=events, active=True, secret=secret)


@router.get("/webhooks", response_model=list[WebhookOut], tags=["webhooks"])
def get_webhooks(ctx: Ctx, _: Hooker) -> list[WebhookOut]:
    with ctx.begin() as conn:
        rows = hooks.subscriptions(conn)
    return [WebhookOut(id=r.id, url=r.url, events=r.events.split(), active=r.active) for r in rows]


@router.delete("/webhooks/{webhook_id}", status_code=204, tags=["webhooks"])
def delete_webhook(
    webhook_id: Annotated[int, Path(ge=1, le=2**31 - 1)], ctx: Ctx, _: Hooker, request: Request
) -> Response:
    with ctx.begin() as conn:
        gone = hooks.unsubscribe(conn, webhook_id)
    if not gone:
        raise ProblemError(404, "webhook-unknown", f"no webhook {webhook_id}")
    return Response(status_code=204)


# --- external agencies (api/agency.py): their placed cases, payments, outcomes, the port ------

router.include_router(agency_router)

# --- the late stages (api/late.py): write-offs, recoveries, settlement offers ----------------

router.include_router(late_router)

# --- the complaints register (api/complaints.py) -----------------------------------------------

router.include_router(complaints_router)
