"""`arrears demo`: a seeded portfolio, sixty business days of the collection loop, a report.

The days run under the champion/challenger experiment `seed_challenger_day3`: half the new
cases follow the seed (a call on the first day), half wait until day 3 for the first call. The
case study's borrower is pinned to the champion — her story is the day-one call — and the pin is
recorded on her assignment, so the experiment report leaves her case out of its cohort.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from arrears.analytics.experiments import ExperimentReport, experiment_report
from arrears.analytics.loop import LoopReport, loop_report
from arrears.bootstrap import App
from arrears.channels.base import ChannelSet
from arrears.channels.config import CommsConfig
from arrears.channels.filesink import FileSink
from arrears.compliance.officer import seed_demo_events
from arrears.services.dispatch import DispatchReport, dispatch_once
from arrears.sim.floor import Floor
from arrears.sim.load import load_portfolio
from arrears.sim.portfolio import generate
from arrears.sim.story import STORY_BORROWER, add_case_study, timeline
from arrears.store import migrate
from arrears.strategy import loader
from arrears.strategy.plan import Pinned

DEFAULT_START = date(2026, 9, 1)
DEFAULT_STRATEGY = "seed_challenger_day3"
SEND_AT = time(10, 0)  # the dispatcher's run on each simulated day, lender's local time
LENDER_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class DemoResult:
    report: LoopReport
    timeline: list[str]
    start: date
    end: date
    experiment: ExperimentReport
    strategy_description: str = ""


def run_demo(
    app: App,
    *,
    borrowers: int = 2000,
    days: int = 60,
    seed: int = 7,
    start: date = DEFAULT_START,
    strategy: str = DEFAULT_STRATEGY,
    deliver: Callable[[App, date], object] | None = None,
    progress: Callable[[date], None] | None = None,
) -> DemoResult:
    chosen = loader.load(strategy)
    # the case study is the champion's day-one call: pinned, recorded, left out of the cohort
    planned = Pinned(chosen, {STORY_BORROWER: chosen.variants[0].name})
    migrate.upgrade(app.engine)
    portfolio = generate(seed, borrowers, start, days)
    script = add_case_study(portfolio)
    load_portfolio(app.engine, app.keyring, portfolio)
    with app.engine.begin() as conn:  # disputes, cease requests, breathing spaces, opt-outs
        others = sorted(b for b in portfolio.people if b != STORY_BORROWER)
        seed_demo_events(conn, app.keyring, others, start, seed)
    floor = Floor(app, portfolio, random.Random(seed), {STORY_BORROWER: script})
    end = start + timedelta(days=days - 1)
    for offset in range(days):
        d = start + timedelta(days=offset)
        app.run_day(d, strategy=planned)
        if deliver is not None:
            deliver(app, d)
        floor.work_day(d)
        if progress is not None:
            progress(d)
    shares = [(v.name, v.share) for v in chosen.variants]
    with app.engine.connect() as conn:
        return DemoResult(
            loop_report(conn, start, end),
            timeline(conn, start),
            start,
            end,
            experiment_report(conn, chosen.name, end, shares),
            chosen.description,
        )


def deliver_to_files(
    outbox: Path, web_base: str = "http://127.0.0.1:8000"
) -> Callable[[App, date], DispatchReport]:
    """The demo's dispatcher: each simulated morning, send the outbox into JSON-lines files, with
    links to the borrower page as `arrears demo --serve` serves it."""
    sink = FileSink(outbox)

    def deliver(app: App, day: date) -> DispatchReport:
        now = datetime.combine(day, SEND_AT, tzinfo=LENDER_TZ)
        comms = CommsConfig(link_base=web_base)
        comms.sign_links(app.keyring, today=lambda: day)
        return dispatch_once(app.engine, app.keyring, ChannelSet(sink), now, comms=comms)

    return deliver
