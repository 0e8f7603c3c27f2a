"""Events leave signed, to a real HTTP receiver on loopback, once each when delivered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.api.webhooks import collect_events, deliver, verify_signature
from arrears.bootstrap import App
from arrears.engine.run_day import run_day
from arrears.store.tables_web import webhook_deliveries
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


def test_case_opened_is_delivered_signed_and_once(
    client: TestClient, auth: dict[str, str], app: App, receiver: Receiver
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
        first = deliver(app.engine, app.keyring, now, http)
        receiver.status = 200
        second = deliver(app.engine, app.keyring, now, http)
        third = deliver(app.engine, app.keyring, now, http)
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
