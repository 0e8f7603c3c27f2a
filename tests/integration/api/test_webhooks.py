"""Events leave signed, to a real HTTP receiver on loopback, once each when delivered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from arrears.bootstrap import App
from arrears.engine.run_day import run_day
from arrears.services.webhooks import (
    WebhookUrlRefused,
    check_url,
    collect_events,
    deliver,
    verify_signature,
)
from arrears.store.tables_web import webhook_deliveries, webhooks
from tests.integration.api.test_api import feed

DAY = date(2026, 2, 2)  # the first instalment (due 1 February) is one day late


class Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def loopback_allowed(app: App) -> None:
    """The receiver listens on loopback: the operator's setting allows it."""
    app.settings = replace(app.settings, webhook_allow_private=True)


def test_case_opened_is_delivered_signed_and_once(
    client: TestClient, auth: dict[str, str], app: App, receiver: Receiver, loopback_allowed: None
) -> None:
    feed(client, auth)
    r = client.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["case.opened"]}, headers=auth
    )
    assert r.status_code == 201
    secret = r.json()["secret"]
    run_day(app.engine, DAY)
    with app.engine.begin() as conn:
        assert collect_events(conn, DAY) == 1
        assert collect_events(conn, DAY) == 0  # re-running the day finds nothing new
    now = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    receiver.status = 503
    with httpx.Client() as http:
        first = deliver(app.engine, app.keyring, now, http, allow_private=True)
        receiver.status = 200
        second = deliver(app.engine, app.keyring, now, http, allow_private=True)
        third = deliver(app.engine, app.keyring, now, http, allow_private=True)
    assert (first.retried, second.delivered, third.delivered) == (1, 1, 0)
    headers, body = receiver.got[-1]
    assert headers["X-Arrears-Event"] == "case.opened"
    assert verify_signature(secret, headers["X-Arrears-Signature"], body, int(now.timestamp()))
    assert not verify_signature(
        "whsec_other", headers["X-Arrears-Signature"], body, int(now.timestamp())
    )
    assert not verify_signature(
        secret, headers["X-Arrears-Signature"], body + b" ", int(now.timestamp())
    )
    payload = json.loads(body)
    assert payload["data"]["borrower_id"] == "B1" and payload["data"]["overdue_amount"]
    assert "张" not in body.decode() and "138" not in body.decode()  # no personal data
    with app.engine.connect() as conn:
        row = conn.execute(select(webhook_deliveries)).one()
    assert row.status == "delivered" and row.attempts == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://100.64.0.1/hook",
        "https://example.com/ho\x00ok",
        "https://example.com/hook\x7f",
        "ftp://example.com/hook",
    ],
)
def test_webhook_urls_to_private_addresses_or_with_control_characters_are_refused(
    client: TestClient, auth: dict[str, str], url: str
) -> None:
    r = client.post("/api/v1/webhooks", json={"url": url, "events": ["case.opened"]}, headers=auth)
    assert r.status_code == 422, r.text
    assert client.get("/api/v1/webhooks", headers=auth).json() == []


def test_a_public_host_is_resolved_and_checked() -> None:
    public = lambda host, port: ["93.184.215.14"]  # noqa: E731
    rebound = lambda host, port: ["93.184.215.14", "10.0.0.5"]  # noqa: E731
    check_url("https://hooks.example.com/in", resolve=public)
    with pytest.raises(WebhookUrlRefused, match=r"10\.0\.0\.5"):
        check_url("https://hooks.example.com/in", resolve=rebound)
    check_url("https://hooks.example.com/in", resolve=rebound, allow_private=True)


def test_a_bad_url_never_stops_deliveries_to_others(
    client: TestClient, auth: dict[str, str], app: App, receiver: Receiver, loopback_allowed: None
) -> None:
    """A webhook stored before the check (or whose name now resolves to a private address) fails
    its own delivery; the next subscriber still gets the event."""
    feed(client, auth)
    with app.engine.begin() as conn:  # subscribed first, so its delivery is tried first
        conn.execute(
            insert(webhooks).values(
                url="http://exa mple.com/\x01",
                secret_enc=app.keyring.encrypt("whsec_x"),
                events="case.opened",
                active=True,
                created_at=datetime(2026, 2, 1, tzinfo=UTC),
            )
        )
    good = client.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["case.opened"]}, headers=auth
    )
    assert good.status_code == 201
    run_day(app.engine, DAY)
    with app.engine.begin() as conn:
        assert collect_events(conn, DAY) == 1
    now = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    with httpx.Client() as http:
        report = deliver(app.engine, app.keyring, now, http, allow_private=True)
    assert (report.delivered, report.failed) == (1, 1)
    assert len(receiver.got) == 1
    with app.engine.connect() as conn:
        errors = [r.last_error for r in conn.execute(select(webhook_deliveries)) if r.last_error]
    assert errors and errors[0].startswith("refused:")
