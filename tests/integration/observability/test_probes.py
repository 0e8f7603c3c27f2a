"""/healthz, /readyz and /metrics over a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from arrears.bootstrap import App
from arrears.config import Settings
from arrears.web.app import create_app
from tests.integration.observability.conftest import DAY1, behind


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_liveness_needs_nothing(wired: App) -> None:
    with TestClient(create_app(wired)) as client:
        assert client.get("/healthz").json() == {"status": "up"}


def test_not_ready_before_the_first_night(wired: App) -> None:
    with TestClient(create_app(wired)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    checks = {c["name"]: c for c in answer.json()["checks"]}
    assert [checks[n]["ok"] for n in ("database", "schema", "keyring")] == [True] * 3
    assert checks["last_night"]["ok"] is False


def test_ready_once_the_night_finished(wired: App) -> None:
    behind(wired)
    wired.run_day(DAY1)
    with TestClient(create_app(wired)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200, answer.json()
    night = next(c for c in answer.json()["checks"] if c["name"] == "last_night")
    assert night["detail"] == "run-day finished business date 2026-03-02"


def test_a_schema_behind_the_head_is_not_ready(wired: App, db: Engine) -> None:
    behind(wired)
    wired.run_day(DAY1)
    with db.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    with TestClient(create_app(wired)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    schema = next(c for c in answer.json()["checks"] if c["name"] == "schema")
    assert "arrears db upgrade" in schema["detail"]


def test_a_key_ring_that_cannot_load_is_not_ready(db: Engine, tmp_path: Path) -> None:
    wired = App(Settings(database_url=str(db.url), keys_json="not json"))
    wired.engine = db  # type: ignore[misc]
    with TestClient(create_app(wired)) as client:
        answer = client.get("/readyz")
    keyring = next(c for c in answer.json()["checks"] if c["name"] == "keyring")
    assert answer.status_code == 503 and keyring["ok"] is False


def test_an_unreachable_database_is_not_ready_and_the_scrape_says_so(tmp_path: Path) -> None:
    gone = tmp_path / "missing" / "arrears.db"  # a directory that does not exist
    wired = App(Settings(database_url=f"sqlite:///{gone}"))
    with TestClient(create_app(wired)) as client:
        ready = client.get("/readyz")
        scraped = _samples(client.get("/metrics").text)
    checks = {c["name"]: c["ok"] for c in ready.json()["checks"]}
    assert ready.status_code == 503 and not any(checks.values())
    assert scraped[("arrears_database_up", ())] == 0


def test_metrics_count_the_database_queues(wired: App, db: Engine) -> None:
    behind(wired)
    wired.run_day(DAY1)
    with db.connect() as conn:
        pending = conn.scalar(text("SELECT count(*) FROM outbox WHERE status = 'pending'"))
        open_cases = conn.scalar(text("SELECT count(*) FROM cases WHERE status = 'open'"))
    assert open_cases == 3
    with TestClient(create_app(wired)) as client:
        client.get("/healthz")
        body = client.get("/metrics").text
    got = _samples(body)
    assert got[("arrears_outbox_pending", ())] == pending
    assert got[("arrears_cases", (("status", "open"),))] == 3
    assert got[("arrears_last_run_accounts_changed", ())] >= 3
    assert got[("arrears_run_day_step_seconds", (("step", "gate"),))] >= 0
    assert got[("arrears_run_day_step_rows", (("step", "update_cases"),))] == 3
    healthz = (
        "arrears_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/healthz"), ("status", "200"), ("surface", "web")),
    )
    assert got[healthz] >= 1


def test_latency_is_labelled_by_route_never_by_the_path(wired: App) -> None:
    with TestClient(create_app(wired)) as client:
        client.get("/b/secret-token-in-the-path")
        body = client.get("/metrics").text
    assert "secret-token-in-the-path" not in body


def _gate_counts() -> dict[tuple[str, str], float]:
    from arrears.observability.metrics import REGISTRY

    return {
        (s.labels["verdict"], s.labels["rule"]): s.value
        for family in REGISTRY.collect()
        if family.name == "arrears_gate_decisions"
        for s in family.samples
        if s.name.endswith("_total")
    }


def test_gate_decisions_are_counted_by_verdict_and_rule(wired: App, db: Engine) -> None:
    behind(wired)
    before = _gate_counts()
    wired.run_day(DAY1)
    after = _gate_counts()
    grew = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT r.verdict, r.rule_id, count(*) FROM actions a"
                " JOIN gate_rulings r ON r.id = a.ruling_id GROUP BY r.verdict, r.rule_id"
            )
        ).all()
    recorded = {(str(v), str(r) if r else "none"): float(n) for v, r, n in rows}
    assert recorded and grew == recorded
