"""The one-click unsubscribe link an e-mail carries lands on the web app: the right token opts
the address the message went to out of e-mail (SMS still goes), a wrong one is a bare 404 — on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from arrears.bootstrap import App
from arrears.channels.filesink import FileSink
from arrears.channels.smtp import unsubscribe_token
from arrears.services.dispatch import AllowAll, dispatch_once
from arrears.store import tables as t
from arrears.store.tables_comms import comm_suppressions
from tests.integration.channels.outbox import AT, queue_messages

SECRET = "unsubscribe-secret-for-tests"
LATER = AT + timedelta(minutes=5)


@pytest.fixture(autouse=True)
def channels_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The channels file the dispatcher and the web app both read."""
    path = tmp_path / "channels.yaml"
    path.write_text(
        "channels:\n"
        "  email:\n"
        "    kind: smtp\n"
        "    host: 127.0.0.1\n"
        "    sender: collections@example.cn\n"
        '    unsubscribe_url: "https://pay.example.cn/unsubscribe/{key}?t={token}"\n'
        "    unsubscribe_secret_env: ARREARS_TEST_UNSUBSCRIBE_SECRET\n",
        "utf-8",
    )
    monkeypatch.setenv("ARREARS_CHANNELS", str(path))
    monkeypatch.setenv("ARREARS_TEST_UNSUBSCRIBE_SECRET", SECRET)


def queue(app: App) -> tuple[int, int]:
    """An e-mail to borrower B100 and an SMS to the same phone. Returns (email id, sms id)."""
    with app.engine.begin() as conn:
        (email,) = queue_messages(conn, app.keyring, 1, start=100, channel="email")
        (sms,) = queue_messages(conn, app.keyring, 1, start=200, channel="sms")
        b100 = conn.execute(select(t.borrowers).where(t.borrowers.c.id == "B100")).one()
        conn.execute(
            update(t.borrowers)
            .where(t.borrowers.c.id == "B200")
            .values(phone_enc=b100.phone_enc, phone_index=b100.phone_index)
        )
    return email, sms


def sent_to(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [json.loads(x)["outbox_id"] for x in path.read_text("utf-8").splitlines()]


def dispatch_again(app: App, ids: list[int], out: Path) -> dict[int, str]:
    """The next day's messages to the same borrowers; returns their outbox statuses."""
    with app.engine.begin() as conn:
        conn.execute(
            update(t.outbox)
            .where(t.outbox.c.id.in_(ids))
            .values(status="pending", not_before=LATER)
        )
        conn.execute(
            update(t.actions)
            .where(t.actions.c.target_id.in_(["B100", "B200"]))
            .values(status="queued")
        )
    dispatch_once(
        app.engine, app.keyring, FileSink(out), LATER + timedelta(days=1), gate=AllowAll()
    )
    with app.engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.id, t.outbox.c.status).where(t.outbox.c.id.in_(ids)))
        return {r.id: r.status for r in rows}


def suppressions(app: App) -> list[str]:
    with app.engine.connect() as conn:
        return [r.channel for r in conn.execute(select(comm_suppressions)).all()]


def test_one_click_post_suppresses_email_only(app: App, web: TestClient, tmp_path: Path) -> None:
    email, sms = queue(app)
    out = tmp_path / "day1"
    dispatch_once(app.engine, app.keyring, FileSink(out), LATER, gate=AllowAll())
    assert sent_to(out / "email.jsonl") == [email]
    key = f"arrears-{email}"
    url = f"/unsubscribe/{key}?t={unsubscribe_token(key, SECRET.encode())}"
    # a mail provider's one-click POST: no cookie, no CSRF token
    body = b"List-Unsubscribe=One-Click"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    first = web.post(url, headers=headers, content=body)
    assert first.status_code == 200, first.text
    assert 'data-testid="unsubscribed"' in first.text
    again = web.post(url, headers=headers, content=body)
    assert again.status_code == 200  # the same request twice is harmless
    assert suppressions(app) == ["email"]
    day2 = tmp_path / "day2"
    status = dispatch_again(app, [email, sms], day2)
    assert status == {email: "blocked", sms: "sent"}
    assert sent_to(day2 / "email.jsonl") == []
    assert sent_to(day2 / "sms.jsonl") == [sms]


@pytest.mark.parametrize("how", ["wrong token", "no token", "other key", "unknown key", "sms key"])
def test_bad_token_or_unknown_key_is_a_bare_404(app: App, web: TestClient, how: str) -> None:
    email, sms = queue(app)
    key = f"arrears-{email}"
    good = unsubscribe_token(key, SECRET.encode())
    url = {
        "wrong token": f"/unsubscribe/{key}?t={unsubscribe_token(key, b'guess')}",
        "no token": f"/unsubscribe/{key}",
        "other key": f"/unsubscribe/arrears-{sms}?t={good}",
        "unknown key": "/unsubscribe/arrears-999999?t="
        + unsubscribe_token("arrears-999999", SECRET.encode()),
        "sms key": f"/unsubscribe/arrears-{sms}?t="
        + unsubscribe_token(f"arrears-{sms}", SECRET.encode()),
    }[how]
    for r in (web.get(url), web.post(url, content=b"List-Unsubscribe=One-Click")):
        assert r.status_code == 404
        assert 'data-testid="error-detail"></p>' in r.text  # no detail at all
    assert suppressions(app) == []


def test_get_asks_first_in_the_borrowers_language_and_shows_no_debt(
    app: App, web: TestClient
) -> None:
    email, _ = queue(app)
    key = f"arrears-{email}"
    token = unsubscribe_token(key, SECRET.encode())
    page = web.get(f"/unsubscribe/{key}?t={token}")
    assert page.status_code == 200
    assert "确认退订" in page.text  # the borrower's language is Chinese
    assert f'action="/unsubscribe/{key}?t={token}"' in page.text
    assert 'method="post"' in page.text
    assert "style=" not in page.text and "<script>" not in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for detail in ("1234.50", "1,234.50", "123450", "王芳", "M1", "@example.cn"):
        assert detail not in page.text
    assert suppressions(app) == []  # a GET (or a link scanner) changes nothing
    english = web.get(f"/unsubscribe/{key}?t={token}&lang=en")
    assert "Unsubscribe" in english.text
