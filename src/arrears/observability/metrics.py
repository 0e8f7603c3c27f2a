"""Prometheus metrics.

Two kinds: what one process does (HTTP latency, messages dispatched, gate decisions, the steps
of the run it ran) lives in the process's `REGISTRY`; what the database knows (queue sizes,
cases by status, the last night) is read by `DatabaseCollector` at scrape time, so every
`arrears serve` process reports the same figures. No label carries a personal value."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from arrears.store import gauges

if TYPE_CHECKING:  # the HTTP middleware's types: the web loads only with `arrears serve`
    from starlette.requests import Request
    from starlette.responses import Response

CONTENT_TYPE = CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

RUN_STEP_SECONDS = Gauge(
    "arrears_run_day_step_seconds",
    "Seconds each step of the last daily run this process ran took.",
    ["step"],
    registry=REGISTRY,
)
RUN_STEP_ROWS = Gauge(
    "arrears_run_day_step_rows",
    "Rows each step of the last daily run this process ran produced or changed.",
    ["step"],
    registry=REGISTRY,
)
DISPATCH_MESSAGES = Counter(
    "arrears_dispatch_messages",
    "Messages handed to a channel, by channel and result (sent or failed).",
    ["channel", "result"],
    registry=REGISTRY,
)
GATE_DECISIONS = Counter(
    "arrears_gate_decisions",
    "Decisions of the nightly compliance gate, by verdict and deciding rule.",
    ["verdict", "rule"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "arrears_http_request_duration_seconds",
    "Time to answer an HTTP request, by surface (api or web), method, route and status.",
    ["surface", "method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class RunFigures(Protocol):
    """What the daily run reports (engine/run_day.py RunReport), read only."""

    @property
    def as_of(self) -> date: ...
    @property
    def step_seconds(self) -> dict[str, float]: ...
    @property
    def quarantined(self) -> dict[str, str]: ...
    @property
    def payments_posted(self) -> int: ...
    @property
    def penalty_items(self) -> int: ...
    @property
    def promises_settled(self) -> int: ...
    @property
    def plans_completed(self) -> int: ...
    @property
    def plans_broken(self) -> int: ...
    @property
    def accounts_changed(self) -> int: ...
    @property
    def cases_opened(self) -> int: ...
    @property
    def cases_closed(self) -> int: ...
    @property
    def actions_planned(self) -> int: ...
    @property
    def messages_enqueued(self) -> int: ...


def step_rows(report: RunFigures) -> dict[str, int]:
    """Rows per step of a daily run, from its report's counts."""
    return {
        "quarantine": len(report.quarantined),
        "post_payments": report.payments_posted,
        "accrue_penalty": report.penalty_items,
        "settle": report.promises_settled + report.plans_completed + report.plans_broken,
        "assess_accounts": report.accounts_changed,
        "update_cases": report.cases_opened + report.cases_closed,
        "plan_actions": report.actions_planned,
        "enqueue_messages": report.messages_enqueued,
        # steps of later versions of the run, when the report has them
        "settlement_offers": getattr(report, "offers_settled", 0)
        + getattr(report, "offers_lapsed", 0),
        "charge_off": getattr(report, "accounts_charged_off", 0),
        "legal_referral": getattr(report, "cases_referred_to_legal", 0),
    }


def record_run(report: RunFigures) -> None:
    """The steps of a daily run this process just ran: seconds and rows of each."""
    for step, seconds in report.step_seconds.items():
        RUN_STEP_SECONDS.labels(step).set(seconds)
    for step, rows in step_rows(report).items():
        if step in report.step_seconds:
            RUN_STEP_ROWS.labels(step).set(rows)


def record_dispatch(sent: Iterable[str], failed: Iterable[str]) -> None:
    """One recorded batch: the channel of each message sent and of each that failed."""
    for result, channels in (("sent", sent), ("failed", failed)):
        for channel, n in _tally(channels).items():
            DISPATCH_MESSAGES.labels(channel, result).inc(n)


def record_gate(verdicts: Mapping[str, int], by_rule: Mapping[str, int]) -> None:
    """One gate batch, from its report's counts: `by_rule` keys are "<verdict> <rule id>";
    verdicts no rule decided (plain allows) count under rule "none"."""
    ruled: dict[str, int] = {}
    for key, n in by_rule.items():
        verdict, _, rule = key.partition(" ")
        GATE_DECISIONS.labels(verdict, rule).inc(n)
        ruled[verdict] = ruled.get(verdict, 0) + n
    for verdict, n in verdicts.items():
        if n - ruled.get(verdict, 0) > 0:
            GATE_DECISIONS.labels(verdict, "none").inc(n - ruled.get(verdict, 0))


def _tally(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


async def time_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """HTTP middleware: the latency of every request, labelled by its route's template (never
    the path itself: a borrower link carries its token in the path)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        surface = "api" if request.url.path.startswith("/api/") else "web"
        HTTP_SECONDS.labels(surface, request.method, template, str(status)).observe(
            time.perf_counter() - started
        )


class DatabaseCollector(Collector):
    """Figures read from the database at each scrape: the same from every process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("arrears_database_up", "1 when the database answered the scrape.")
        try:
            outbox = gauges.outbox_by_status(self.engine)
            cases = gauges.cases_by_status(self.engine)
            run = gauges.last_run(self.engine)
            night = gauges.last_night_figures(self.engine)
        except Exception:  # the readiness probe says why; the scrape still answers
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _by_status("arrears_outbox_messages", "Outbox messages by status.", outbox)
        yield _gauge(
            "arrears_outbox_pending",
            "Outbox messages waiting to be sent (the dispatch queue).",
            outbox.get("pending", 0),
        )
        yield _by_status("arrears_cases", "Cases by status.", cases)
        if run is not None:
            yield from _run(run)
        if night is not None:
            yield from _night(night)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def _by_status(name: str, doc: str, counts: Mapping[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["status"])
    for status, n in sorted(counts.items()):
        family.add_metric([status], n)
    return family


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _run(run: gauges.RunLogged) -> Iterable[Metric]:
    """The last business date the daily run finished (by `arrears run-day` or a night)."""
    yield _gauge(
        "arrears_last_run_business_date_seconds",
        "The last business date the daily run finished (its midnight UTC, unix seconds).",
        _midnight(run.business_date),
    )
    yield _gauge(
        "arrears_last_run_finished_timestamp_seconds",
        "When the last daily run finished (unix seconds).",
        _seconds(run.finished_at),
    )
    yield _gauge(
        "arrears_last_run_accounts_changed", "Accounts the last daily run changed.", run.rows
    )


def _night(night: gauges.NightFigures) -> Iterable[Metric]:
    """The latest night of `arrears nightly`: its date, status and each step's seconds, rows."""
    yield _gauge(
        "arrears_last_night_business_date_seconds",
        "The business date of the latest night (its midnight UTC, unix seconds).",
        _midnight(night.business_date),
    )
    status = GaugeMetricFamily(
        "arrears_last_night_status",
        "1 for the status of the latest night (running, failed or finished).",
        labels=["status"],
    )
    for name in ("running", "failed", "finished"):
        status.add_metric([name], 1 if night.status == name else 0)
    yield status
    if night.finished_at is not None:
        yield _gauge(
            "arrears_last_night_finished_timestamp_seconds",
            "When the latest night finished (unix seconds).",
            _seconds(night.finished_at),
        )
    seconds = GaugeMetricFamily(
        "arrears_night_step_seconds", "Seconds each step of the latest night took.", labels=["step"]
    )
    rows = GaugeMetricFamily(
        "arrears_night_step_rows", "Rows each step of the latest night handled.", labels=["step"]
    )
    for step, (spent, handled) in night.steps.items():
        if spent is not None:
            seconds.add_metric([step], spent)
        if handled is not None:
            rows.add_metric([step], handled)
    yield seconds
    yield rows


class _Process(Collector):
    """The process's own metrics, under an app's registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def app_registry(engine: Engine) -> CollectorRegistry:
    """A registry for one HTTP app: the process's metrics and the database's figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Process())
    registry.register(DatabaseCollector(engine))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
