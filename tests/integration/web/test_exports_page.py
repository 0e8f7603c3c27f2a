"""The exports page and its downloads (SQLite and PostgreSQL): a manager and a team lead see
the exports their role may run in Chinese and English, download CSV and XLSX with personal
data masked, each download audited; an agent may not open the page nor download."""

from __future__ import annotations

import csv
import io
import json
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from arrears.bootstrap import App
from arrears.store.tables_compliance import audit_log
from tests.integration.web.conftest import sign_in

PLAINTEXT = ("王小明", "+8613812345678", "13812345678", "110101199001011234", "赵六")


def _visible(html: str) -> str:
    main = html.split("<main")[1]
    return re.sub(r"<[^>]*data-i18n-ignore[^>]*>.*?</a>|<[^>]+>", " ", main)


def test_a_manager_and_a_lead_see_the_exports_in_both_languages(web: TestClient) -> None:
    sign_in(web, "manager")
    zh = web.get("/exports?lang=zh")
    assert zh.status_code == 200, zh.text
    assert "数据导出" in zh.text and "均已脱敏" in zh.text
    kinds = re.findall(r'data-testid="export-(\w+)"', zh.text)
    assert "cases" in kinds and "recoveries" in kinds and "agency_performance" in kinds
    assert 'href="/exports/cases.xlsx?as_of=2026-03-02"' in zh.text
    visible = _visible(zh.text)
    for raw in ("agent_performance", "cases", "Masked", "Download", "exports."):
        assert raw not in visible, raw
    en = web.get("/exports?lang=en&from=2026-02-24&as_of=2026-03-02")
    assert "Agent performance" in en.text and "In your exports personal data" in en.text
    assert "/exports/promises.csv?as_of=2026-03-02&amp;from=2026-02-24" in en.text
    wrong = web.get("/exports?lang=en&from=2026-03-05&as_of=2026-03-02")
    assert "The start date is after the business date" in wrong.text

    sign_in(web, "lead")
    lead = web.get("/exports?lang=zh")
    assert lead.status_code == 200
    kinds = re.findall(r'data-testid="export-(\w+)"', lead.text)
    assert "cases" in kinds and "agent_performance" in kinds
    assert "recoveries" not in kinds  # the portfolio's, not the floor's


def test_downloads_are_masked_and_audited(web: TestClient, app: App) -> None:
    sign_in(web, "lead")
    got = web.get("/exports/cases.csv?as_of=2026-03-02")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert 'filename="arrears-cases-2026-03-02.csv"' in got.headers["content-disposition"]
    text = got.content.decode("utf-8-sig")
    assert not [p for p in PLAINTEXT if p in text]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["borrower_id"] for r in rows] == ["B1"]  # the lead's team works B1, not B2
    assert all("*" in r["borrower_name"] and "*" in r["borrower_phone"] for r in rows)

    sign_in(web, "manager")
    book = web.get("/exports/actions.xlsx?as_of=2026-03-02")
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.content), read_only=True)["actions"]
    header, *body = list(sheet.iter_rows(values_only=True))
    assert header[:3] == ("action_id", "case_id", "step") and body  # the day's planned actions

    refused = web.get("/exports/recoveries.csv?as_of=2026-03-02")  # allowed to a manager
    assert refused.status_code == 200
    assert web.get("/exports/debts.csv").status_code == 404
    with app.engine.connect() as conn:
        entries = conn.execute(
            select(audit_log.c.actor, audit_log.c.subject, audit_log.c.detail)
            .where(audit_log.c.kind == "export")
            .order_by(audit_log.c.seq)
        ).all()
    assert [(a, s) for a, s, _ in entries] == [
        ("lead", "export:cases"),
        ("manager", "export:actions"),
        ("manager", "export:recoveries"),
    ]
    first = json.loads(entries[0].detail)
    assert (first["rows"], first["role"], first["personal_data"]) == (1, "team_lead", "masked")
    assert first["filters"]["queues"] == "early,hardship"


def test_an_agent_may_not_export(web: TestClient, app: App) -> None:
    sign_in(web, "agent")
    assert web.get("/exports").status_code == 403
    assert web.get("/exports/cases.csv").status_code == 403
    sign_in(web, "lead")
    assert web.get("/exports/recoveries.csv").status_code == 403
    with app.engine.connect() as conn:
        assert not conn.execute(select(audit_log).where(audit_log.c.kind == "export")).first()
