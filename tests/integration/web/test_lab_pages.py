"""The strategy lab on the web (SQLite and PostgreSQL): the agent's case page shows the day's
two scores with the reasons that move them in words (never a model's column name), only the
day's; the strategist's page shows the optimiser's last report — the Pareto front with its
intervals — in Chinese and in English; the agent may not open it."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from arrears.bootstrap import App
from arrears.services.lab_reports import optimiser_report
from arrears.store.tables_lab import lab_scores
from tests.integration.web.conftest import DAY1, sign_in

REPORT = Path(__file__).parents[2] / "fixtures" / "lab" / "optimise.json"


@pytest.fixture(autouse=True)
def _report_in(app: App, tmp_path: Path) -> None:
    """The report where this test's app looks for it (a temporary folder)."""
    app.settings = replace(app.settings, lab_report=tmp_path / "lab" / "optimise.json")
    app.settings.lab_report.parent.mkdir()


def _score(app: App, case_id: int, day: object, pay: float) -> None:
    with app.engine.begin() as conn:
        conn.execute(
            insert(lab_scores).values(
                case_id=case_id, as_of=day, p_pay_30=pay, p_self_cure=0.125,
                pay_model="p_pay_30-abc", cure_model="p_self_cure-def",
                pay_reasons=json.dumps(["paid_share_of_balance +0.31", "bucket −0.12"]),
                cure_reasons=json.dumps(["worst_bucket_3m −0.08"]),
            )
        )  # fmt: skip


def _case_page(web: TestClient) -> tuple[int, str]:
    csrf = sign_in(web, "agent")
    url = web.post("/agent/next", data={"csrf": csrf}).headers["location"]
    return int(url.rsplit("/", 1)[1]), url


def test_the_agent_reads_the_scores_and_their_reasons(web: TestClient, app: App) -> None:
    case_id, url = _case_page(web)
    assert 'data-testid="scores"' not in web.get(url).text  # not scored today: no card
    _score(app, case_id, DAY1 - timedelta(days=1), 0.9)  # yesterday's: not shown
    assert 'data-testid="scores"' not in web.get(url).text
    _score(app, case_id, DAY1, 0.62)
    zh = web.get(url).text
    assert "30天内还款的可能性" in zh and ">62%<" in zh and ">90%<" not in zh
    assert "还款占余额的比例" in zh and "提高 31 个百分点" in zh
    assert "当前逾期程度" in zh and "降低 12 个百分点" in zh
    assert "近三个月最严重的逾期" in zh and "下月恢复正常的可能性" in zh
    reasons = re.findall(r'data-testid="score-reason"[^>]*>([^<]*)<', zh)
    assert len(reasons) == 3 and not any("_" in r for r in reasons)  # words, not columns
    web.get("/lang/en")
    en = web.get(url).text
    assert "Chance of a payment within 30 days" in en and "Paid as a share of the balance" in en
    assert "raises it 31 points" in en and "Furthest behind in the last three months" in en


def test_the_strategist_reads_the_optimisers_front(
    web: TestClient, app: App, tmp_path: Path
) -> None:
    sign_in(web, "strategist")
    assert 'data-testid="no-report"' in web.get("/lab/optimiser").text  # nothing written yet
    shutil.copy(REPORT, app.settings.lab_report)
    report = optimiser_report(app.settings.lab_report)
    assert report is not None
    zh = web.get("/lab/optimiser").text
    rows = zh.count('data-testid="front-row"')
    assert rows == len(report.front) >= 2 and zh.count('data-chosen="1"') == 1
    assert "帕累托前沿" in zh and "每案净回收额" in zh and "<svg" in zh
    chosen = next(s for s in report.front if s.chosen)
    iv = chosen.net_per_case
    assert f"[{iv.low:,.0f}, {iv.high:,.0f}]" in zh  # the interval as the table shows it
    assert "第 " in zh and "致电日" in zh and "call d" not in zh  # no English label
    web.get("/lang/en")
    en = web.get("/lab/optimiser").text
    assert "The Pareto front" in en and "Net recovered per case" in en
    assert "Aim not met" in en or "Aim met" in en


def test_the_report_page_is_for_strategists_and_managers(web: TestClient, app: App) -> None:
    sign_in(web, "agent")
    assert web.get("/lab/optimiser").status_code == 403
    app.settings.lab_report.write_text("{not json", encoding="utf-8")
    sign_in(web, "manager")
    page = web.get("/lab/optimiser")
    assert page.status_code == 200 and "无法读取优化器的报告" in page.text
