"""The borrower's page: nothing before they prove who they are; then what is due, a promise or
one of the plans on offer."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from arrears.bootstrap import App
from arrears.cli import build
from arrears.privacy.links import LINK_DAYS, TOKEN_LENGTH, make_legacy_token, make_token, read_token
from arrears.store import tables as t
from arrears.web.app import create_app
from tests.integration.privacy.conftest import cli_url
from tests.integration.web.conftest import DAY1, NOW


@pytest.fixture
def sms() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def page(app: App, sms: list[tuple[str, str]]) -> TestClient:
    web = create_app(
        app,
        business_date=DAY1,
        clock=lambda: NOW,
        otp_sender=lambda phone, text: sms.append((phone, text)),
    )
    return TestClient(web, base_url="https://testserver", follow_redirects=False)


def _link(app: App, borrower: str = "B1", until: date = date(2026, 3, 16)) -> str:
    with app.engine.connect() as conn:
        case_id = conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower))
    return "/b/" + make_token(app.keyring, int(case_id), until)


def test_nothing_shows_before_the_one_time_code(page: TestClient, app: App, sms: list) -> None:
    link = _link(app)
    r = page.get(link)
    assert r.status_code == 200 and "138****5678" in r.text
    assert not re.search(r"¥[0-9]", r.text)
    page.post(link + "/code")
    ((phone, text),) = sms
    assert phone == "+8613812345678"
    code = re.search(r"\d{6}", text).group(0)  # type: ignore[union-attr]
    wrong = "000000" if code != "000000" else "111111"
    assert page.post(link + "/verify", data={"code": wrong}).status_code == 401
    r = page.post(link + "/verify", data={"code": code})
    assert r.status_code == 303
    home = page.get(link).text
    assert 'data-testid="due-total"' in home and "¥" in home
    # the borrower picks three monthly instalments: within what the page may agree alone
    csrf = re.search(r'name="csrf" value="([^"]+)"', home).group(1)  # type: ignore[union-attr]
    r = page.post(link + "/plan", data={"csrf": csrf, "offer": "1"})
    assert r.status_code == 303
    home = page.get(link).text
    assert home.count('data-testid="instalment"') == 3
    with app.engine.connect() as conn:
        plan = conn.execute(select(t.plans)).one()
    assert plan.status == "active" and plan.proposed_by == "borrower"


def test_last_four_digits_of_the_id_number_also_prove_it(page: TestClient, app: App) -> None:
    link = _link(app)
    assert page.post(link + "/verify", data={"id_last4": "9999"}).status_code == 401
    assert page.post(link + "/verify", data={"id_last4": "1234"}).status_code == 303
    assert 'data-testid="due-total"' in page.get(link).text


def test_five_wrong_answers_lock_the_link(page: TestClient, app: App) -> None:
    link = _link(app)
    for _ in range(5):
        page.post(link + "/verify", data={"id_last4": "0000"})
    r = page.post(link + "/verify", data={"id_last4": "1234"})
    assert r.status_code == 429 and 'data-testid="locked"' in r.text


def test_a_guessed_altered_or_expired_link_is_not_found(page: TestClient, app: App) -> None:
    link = _link(app)
    assert page.get(link[:-3] + "AAA").status_code == 404
    assert page.get("/b/" + "A" * 80).status_code == 404
    assert page.get(_link(app, until=date(2026, 3, 1))).status_code == 404


def test_a_verified_session_does_not_open_another_borrowers_link(
    page: TestClient, app: App
) -> None:
    mine = _link(app, "B1")
    page.post(mine + "/verify", data={"id_last4": "1234"})
    other = _link(app, "B2")
    r = page.get(other)
    assert 'data-testid="due-total"' not in r.text and "send-code" in r.text


def _case_of(app: App, borrower: str) -> int:
    with app.engine.connect() as conn:
        return int(conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower)))


def test_a_link_sent_before_the_short_tokens_still_opens_the_page(
    page: TestClient, app: App
) -> None:
    link = "/b/" + make_legacy_token(app.keyring, _case_of(app, "B1"), "B1", date(2026, 3, 16))
    r = page.get(link)
    assert r.status_code == 200 and "138****5678" in r.text
    assert page.post(link + "/verify", data={"id_last4": "1234"}).status_code == 303
    assert 'data-testid="due-total"' in page.get(link).text


def test_a_link_to_no_case_or_naming_another_borrower_is_not_found(
    page: TestClient, app: App
) -> None:
    assert page.get("/b/" + make_token(app.keyring, 999_999, date(2026, 3, 16))).status_code == 404
    other = make_legacy_token(app.keyring, _case_of(app, "B1"), "B2", date(2026, 3, 16))
    assert page.get("/b/" + other).status_code == 404


class _Morning(datetime):
    """The command line's clock, fixed at 10:00 in Shanghai on the first day past due."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
        return NOW if tz is not None else NOW.replace(tzinfo=None)


def _dispatched_token(app: App, tmp_path: Path, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """`arrears dispatch --once` at 10:00 Shanghai time; the token in B1's SMS."""
    monkeypatch.setattr("arrears.cli.dispatch.datetime", _Morning)
    monkeypatch.setenv("ARREARS_KEYS", app.keyring.to_json())
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        "link_base: https://m.lender.example/\n"
        f"channels:\n  \"*\": {{kind: file, directory: '{tmp_path / 'sent'}'}}\n",
        "utf-8",
    )
    result = CliRunner().invoke(
        build(),
        ["--database", cli_url(app.engine), "dispatch", "--once", "--no-progress",
         "--channels", str(channels)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sent = [
        json.loads(x) for x in (tmp_path / "sent" / "sms.jsonl").read_text("utf-8").split("\n") if x
    ]
    (message,) = [m for m in sent if m["meta"]["borrower_id"] == "B1"]
    found = re.search(r"https://m\.lender\.example/b/(\S+)$", message["body"])
    assert found is not None, message["body"]
    return found.group(1)


def test_dispatch_dates_links_by_the_business_date_the_page_counts_by(
    app: App, tmp_path: Path, monkeypatch
) -> None:
    # the last daily run was for the day after the command's UTC date (a Shanghai morning
    # before 08:00 is still yesterday in UTC): the link's days count from that business date
    run_for = NOW.date() + timedelta(days=1)
    with app.engine.begin() as conn:
        conn.execute(
            t.run_log.insert().values(
                business_date=run_for, step="run_day", finished_at=NOW, rows=0
            )
        )
    token = _dispatched_token(app, tmp_path, monkeypatch)
    link = read_token(app.keyring, token, run_for)
    assert link.valid_until == run_for + timedelta(days=LINK_DAYS)


def test_the_link_arrears_dispatch_sends_opens_the_borrower_page(
    page: TestClient, app: App, tmp_path: Path, monkeypatch
) -> None:
    token = _dispatched_token(app, tmp_path, monkeypatch)
    assert len(token) == TOKEN_LENGTH
    link = "/b/" + token
    r = page.get(link)
    assert r.status_code == 200 and "138****5678" in r.text
    assert page.post(link + "/verify", data={"id_last4": "1234"}).status_code == 303
    assert 'data-testid="due-total"' in page.get(link).text
    # and it works for LINK_DAYS from the day it was sent, not a day more
    late = create_app(app, business_date=DAY1 + timedelta(days=LINK_DAYS + 1), clock=lambda: NOW)
    assert TestClient(late, base_url="https://testserver").get(link).status_code == 404
