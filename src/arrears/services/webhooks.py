"""Outbound webhooks: business events found from the state the daily run leaves, delivered
signed to each subscribed URL, at least once, each event once per subscriber when it succeeds.

Events: case.opened, case.cured, promise.broken, plan.broken, contact.opted_out. Payloads carry
ids, dates, statuses and amounts — never personal data.

Signature: header `X-Arrears-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
`"<t>.<raw body>"` with the webhook's secret (see `verify_signature`).

URLs: http(s) only, no control characters, and a host that resolves only to public addresses —
not loopback, link-local (cloud metadata), private, shared or reserved ranges — unless the
operator allows them (`ARREARS_WEBHOOK_ALLOW_PRIVATE=1`, for receivers inside the lender's
network). Checked when a webhook is subscribed and again before every delivery (the name may
resolve elsewhere by then); a refused or broken URL fails its own deliveries, never others'."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, delete, insert, select, update

from arrears.formats import plain_amount
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from arrears.store.tables_web import webhook_deliveries, webhook_events, webhooks

EVENTS = ("case.opened", "case.cured", "promise.broken", "plan.broken", "contact.opted_out")
MAX_ATTEMPTS = 8
TOLERANCE_SECONDS = 300


class WebhookUrlRefused(ValueError):
    """A webhook URL that may not be called; the message says why and what is allowed."""


Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, *, allow_private: bool = False, resolve: Resolver | None = None) -> None:
    """Raise `WebhookUrlRefused` unless `url` is an http(s) URL without control characters whose
    host resolves only to public addresses (any address when `allow_private`)."""
    from urllib.parse import urlsplit

    if any(ord(ch) < 0x21 or 0x7F <= ord(ch) <= 0x9F for ch in url):
        raise WebhookUrlRefused("the URL holds a space or control character")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookUrlRefused(f"the URL is not valid: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused("use an http:// or https:// URL with a host name")
    host = parts.hostname
    try:
        addresses = [host] if _is_ip(host) else (resolve or _resolve)(host, port)
    except (OSError, UnicodeError) as exc:
        raise WebhookUrlRefused(f"the host {host!r} does not resolve: {exc}") from None
    if not addresses:
        raise WebhookUrlRefused(f"the host {host!r} does not resolve")
    if allow_private:
        return
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            raise WebhookUrlRefused(
                f"the host {host!r} resolves to {address}, a loopback, link-local, private or "
                "reserved address; webhooks go to public addresses unless the operator sets "
                "ARREARS_WEBHOOK_ALLOW_PRIVATE=1"
            )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _found(conn: Connection, as_of: date) -> list[tuple[str, str, dict[str, Any]]]:
    c, p, pl, ct = t.cases, t.promises, t.plans, t.contacts
    found: list[tuple[str, str, dict[str, Any]]] = []
    for r in conn.execute(select(c).where(c.c.opened_on == as_of)):
        found.append(
            (
                "case.opened",
                f"case:{r.id}",
                {
                    "case_id": r.id,
                    "borrower_id": r.borrower_id,
                    "opened_on": _day(r.opened_on),
                    "overdue_amount": plain_amount(r.overdue_at_open, r.currency),
                    "currency": r.currency,
                    "bucket": r.bucket,
                },
            )
        )
    for r in conn.execute(
        select(c).where(c.c.closed_on == as_of, c.c.status.in_(["cured", "paid_off"]))
    ):
        found.append(
            (
                "case.cured",
                f"case:{r.id}",
                {
                    "case_id": r.id,
                    "borrower_id": r.borrower_id,
                    "closed_on": _day(r.closed_on),
                    "status": r.status,
                },
            )
        )
    for r in conn.execute(select(p).where(p.c.settled_on == as_of, p.c.status == "broken")):
        found.append(
            (
                "promise.broken",
                f"promise:{r.id}",
                {
                    "promise_id": r.id,
                    "case_id": r.case_id,
                    "due_on": _day(r.due_on),
                    "amount": plain_amount(r.amount, r.currency),
                    "paid_amount": plain_amount(r.paid_amount, r.currency),
                    "currency": r.currency,
                },
            )
        )
    for r in conn.execute(select(pl).where(pl.c.ended_on == as_of, pl.c.status == "broken")):
        found.append(
            (
                "plan.broken",
                f"plan:{r.id}",
                {
                    "plan_id": r.id,
                    "case_id": r.case_id,
                    "ended_on": _day(r.ended_on),
                    "total": plain_amount(r.total, r.currency),
                    "currency": r.currency,
                },
            )
        )
    for r in conn.execute(select(ct.c.id, ct.c.borrower_id).where(ct.c.status == "opted_out")):
        found.append(
            (
                "contact.opted_out",
                f"contact:{r.id}",
                {
                    "contact_id": r.id,
                    "borrower_id": r.borrower_id,
                },
            )
        )
    return found


def collect_events(conn: Connection, as_of: date) -> int:
    """Record the day's new events (once per subject) with a pending delivery to each active
    webhook subscribed to the event at that moment."""
    known = {
        (r.event, r.subject)
        for r in conn.execute(select(webhook_events.c.event, webhook_events.c.subject))
    }
    hooks = [
        (hook.id, set(hook.events.split()))
        for hook in conn.execute(select(webhooks).where(webhooks.c.active.is_(True)))
    ]
    new = 0
    for event, subject, payload in _found(conn, as_of):
        if (event, subject) in known:
            continue
        body = {"event": event, "occurred_on": as_of.isoformat(), "data": payload}
        event_id = conn.execute(
            insert(webhook_events)
            .values(
                event=event,
                subject=subject,
                occurred_on=as_of,
                payload=json.dumps(body, sort_keys=True, ensure_ascii=False),
            )
            .returning(webhook_events.c.id)
        ).scalar_one()
        for hook_id, wanted in hooks:
            if event in wanted:
                conn.execute(
                    insert(webhook_deliveries).values(event_id=event_id, webhook_id=hook_id)
                )
        new += 1
    return new


def sign(secret: str, body: bytes, at: int) -> str:
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, now: int) -> bool:
    """For receivers: the signature matches and is at most five minutes old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        at = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - at) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, body, at), f"t={at},v1={parts.get('v1', '')}")


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    retried: int
    failed: int


def deliver(
    engine: Engine,
    ring: KeyRing,
    now: datetime,
    client: httpx.Client,
    limit: int = 500,
    *,
    allow_private: bool = False,
    resolve: Resolver | None = None,
) -> DeliveryReport:
    """POST each pending delivery; 2xx marks it delivered, anything else retries later (up to
    MAX_ATTEMPTS). Each delivery is recorded in its own transaction. A URL refused by
    `check_url` fails its delivery at once; no URL, however broken, stops the others."""
    d, e, w = webhook_deliveries, webhook_events, webhooks
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                select(
                    d.c.event_id,
                    d.c.webhook_id,
                    d.c.attempts,
                    e.c.event,
                    e.c.payload,
                    w.c.url,
                    w.c.secret_enc,
                )
                .join(e, e.c.id == d.c.event_id)
                .join(w, w.c.id == d.c.webhook_id)
                .where(d.c.status == "pending", w.c.active.is_(True))
                .order_by(d.c.event_id)
                .limit(limit)
            )
        )
    delivered = retried = failed = 0
    for row in rows:
        body = row.payload.encode()
        secret = ring.decrypt(row.secret_enc) or ""
        headers = {
            "Content-Type": "application/json",
            "X-Arrears-Event": row.event,
            "X-Arrears-Delivery": f"{row.event_id}-{row.webhook_id}",
            "X-Arrears-Signature": sign(secret, body, int(now.timestamp())),
        }
        error = None
        refused = False
        try:
            check_url(row.url, allow_private=allow_private, resolve=resolve)
            response = client.post(row.url, content=body, headers=headers, timeout=10)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except WebhookUrlRefused as exc:
            error, refused = f"refused: {exc}", True
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = row.attempts + 1
        if error is None:
            values: dict[str, Any] = {
                "status": "delivered",
                "attempts": attempts,
                "delivered_at": now,
                "last_error": None,
            }
            delivered += 1
        elif attempts >= MAX_ATTEMPTS or refused:
            values = {"status": "failed", "attempts": attempts, "last_error": error}
            failed += 1
        else:
            values = {"attempts": attempts, "last_error": error}
            retried += 1
        with engine.begin() as conn:
            conn.execute(
                update(d)
                .where(d.c.event_id == row.event_id, d.c.webhook_id == row.webhook_id)
                .values(**values)
            )
    return DeliveryReport(delivered, retried, failed)


# --- subscriptions ------------------------------------------------------------------------------


def subscribe(
    conn: Connection, url: str, events: list[str], secret_enc: bytes | None, at: datetime
) -> int:
    """A new active subscription of `url` to `events`; its id. The URL is checked beforehand
    (`check_url`); the secret is stored encrypted."""
    return int(
        conn.execute(
            insert(webhooks)
            .values(
                url=url, secret_enc=secret_enc, events=" ".join(events), active=True, created_at=at
            )
            .returning(webhooks.c.id)
        ).scalar_one()
    )


def subscriptions(conn: Connection) -> list[Any]:
    """Every subscription in id order (url, events, active; the secret stays encrypted)."""
    return list(conn.execute(select(webhooks).order_by(webhooks.c.id)))


def unsubscribe(conn: Connection, webhook_id: int) -> bool:
    """Remove a subscription and its pending deliveries; False when there was none."""
    conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id))
    return bool(conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount)
