"""Request bodies have a size limit checked before they are read; an API call that changes
something is refused before its body is read when its token is missing, wrong or expired;
tokens expire (90 days by default) with a clear 401."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from fastapi.testclient import TestClient

from arrears.api.security import API_MAX_BODY, WEB_MAX_BODY
from arrears.bootstrap import App
from arrears.services.auth import ALL_SCOPES, TOKEN_TTL, issue_token
from tests.integration.api.conftest import NOW


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: TestClient, auth: dict[str, str]
) -> None:
    big = b'{"x": "' + b"a" * API_MAX_BODY + b'"}'
    r = client.post(
        "/api/v1/payments", content=big, headers={**auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("too-large")
    # no token either: still 413, the body is not read to find out
    r = client.post("/api/v1/payments", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_a_chunked_body_is_cut_off_at_the_limit(client: TestClient, auth: dict[str, str]) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            sent.append(1)
            yield b" " * (64 << 10)

    r = client.post(
        "/api/v1/payments",
        content=chunks(),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_web_forms_have_a_smaller_limit(client: TestClient) -> None:
    r = client.post("/login", data={"username": "a", "password": "b" * (WEB_MAX_BODY + 1)})
    assert r.status_code == 413


def test_no_token_is_refused_before_the_body_is_read(client: TestClient) -> None:
    """A malformed body without a token gets 401, not a validation answer about the body."""
    r = client.post(
        "/api/v1/payments", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401 and r.json()["type"].endswith("unauthenticated")
    r = client.post(
        "/api/v1/payments",
        content=b"{not json",
        headers={"Content-Type": "application/json", "Authorization": "Bearer arr_x_y"},
    )
    assert r.status_code == 401 and r.json()["type"].endswith("token-invalid")


def test_tokens_expire_with_a_clear_401(client: TestClient, app: App) -> None:
    with app.engine.begin() as conn:
        old = issue_token(conn, "core", ALL_SCOPES, NOW - TOKEN_TTL - timedelta(seconds=1))
        fresh = issue_token(conn, "core", ALL_SCOPES, NOW - TOKEN_TTL + timedelta(minutes=1))
    r = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401
    assert r.json()["type"].endswith("token-expired") and "expired" in r.json()["detail"]
    r = client.post("/api/v1/payments", json={}, headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and r.json()["type"].endswith("token-expired")
    assert (
        client.get("/api/v1/cases", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    )
