"""The agencies page: a team lead and a manager see each agency's tiers, the cases placed with
it and its commission this month, the rules, and the cases placed — in Chinese and English,
every word from the catalogue; an agent may not open it (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import insert

from arrears.bootstrap import App
from arrears.services import agencies as ag
from arrears.store import tables as t
from tests.integration.web.conftest import DAY1, sign_in

AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _placed(app: App) -> int:
    ring = app.keyring
    with app.engine.begin() as conn:
        ag.add_agency(
            conn, "north", "North Recoveries", ag.parse_tiers("0:15,120:22.5"), by="m", at=AT,
            ring=ring,
        )  # fmt: skip
        ag.add_rule(conn, "north", min_dpd=1, by="m", at=AT, ring=ring)
        (first, *_) = ag.place(conn, DAY1, by="night", at=AT, ring=ring)
        account = conn.execute(t.accounts.select().where(t.accounts.c.borrower_id == "B1")).first()
        assert account is not None
        conn.execute(
            insert(t.payments).values(
                id="P1", account_id=account.id, amount=10_000, currency="CNY", received_on=DAY1
            )
        )
    return first.case_id


def test_a_lead_sees_the_agencies_in_chinese_and_english(web: TestClient, app: App) -> None:
    case_id = _placed(app)
    sign_in(web, "lead")
    zh = web.get("/agencies?lang=zh")
    assert zh.status_code == 200, zh.text
    assert "委外催收机构" in zh.text and "North Recoveries" in zh.text
    assert "第 120 天起：22.5%" in zh.text and "按委案时逾期天数" in zh.text
    assert f'data-testid="placement-{case_id}"' in zh.text
    assert re.search(r'data-testid="placed">2<', zh.text)  # B1 and B2, both past due
    assert "15.00" in zh.text  # 100.00 recovered this month at 15 %
    visible = re.sub(r"<bdi data-i18n-ignore>.*?</bdi>|<[^>]+>", " ", zh.text.split("<main")[1])
    for raw in ("tier_basis", "agency_", "placement_rules", "dpd", "Yes", "from day"):
        assert raw not in visible
    en = web.get("/agencies?lang=en")
    assert "Agencies" in en.text and "from day 120: 22.5 %" in en.text


def test_an_agent_may_not_open_the_agencies(web: TestClient, app: App) -> None:
    sign_in(web, "agent")
    assert web.get("/agencies").status_code == 403
    sign_in(web, "manager")
    assert web.get("/agencies?lang=en").status_code == 200
