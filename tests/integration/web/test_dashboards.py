"""The manager's charts and the compliance officer's review render from the day's data."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from arrears.bootstrap import App
from arrears.store import tables as t
from tests.integration.web.conftest import sign_in


def test_manager_sees_charts_of_the_portfolio(web: TestClient) -> None:
    sign_in(web, "manager")
    page = web.get("/manager")
    assert page.status_code == 200
    for chart in ("by-bucket", "roll", "cure", "recovery", "variants"):
        assert f'data-testid="chart-{chart}"' in page.text
    assert page.text.count("<svg") == 5
    assert "默认策略 / 冠军策略" in page.text  # the day's cases, by strategy variant, in words
    assert "M1" in page.text  # one delinquent bucket so far


def test_compliance_sees_blocked_actions_and_reveals(web: TestClient, app: App) -> None:
    with app.engine.begin() as conn:
        action = conn.execute(select(t.actions.c.id).where(t.actions.c.channel == "sms")).scalar()
        conn.execute(
            update(t.actions)
            .where(t.actions.c.id == action)
            .values(status="blocked", rule_id="cn.time_window", reason="outside 08:00-21:00")
        )
    csrf = sign_in(web, "lead")
    case_id = web.get("/lead").text.split('href="/cases/')[1].split('"')[0]
    web.post(f"/cases/{case_id}/reveal", data={"csrf": csrf, "reason": "identity check"})
    web.cookies.clear()
    sign_in(web, "compliance")
    page = web.get("/compliance").text
    assert "cn.time_window" in page and "只能在规则包允许的时段内联络" in page
    assert "identity check" in page and "lead" in page


def test_cli_adds_a_user_who_can_sign_in(web: TestClient, app: App, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from arrears.cli import build
    from tests.integration.privacy.conftest import cli_url

    result = CliRunner().invoke(
        build(),
        [
            "--database",
            cli_url(app.engine),
            "users",
            "add",
            "zhao",
            "--role",
            "agent",
            "--team",
            "team-early",
        ],
        input="long-enough-pass\nlong-enough-pass\n",
        env={"ARREARS_KEYS": app.keyring.to_json()},
    )
    assert result.exit_code == 0, result.output
    assert "added zhao (agent)" in result.output
    sign_in(web, "zhao", "long-enough-pass")
    assert web.get("/agent").status_code == 200
