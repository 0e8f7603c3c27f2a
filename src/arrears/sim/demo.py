"""`arrears demo`: a seeded portfolio, sixty business days of the collection loop, a report,
and the morning after: the next day's run has planned the calls, each demo agent has a few cases
of their own and the team's queues hold the rest, for `arrears demo --serve`.

The days run under the champion/challenger experiment `seed_challenger_day3`: half the new
cases follow the seed (a call on the first day), half wait until day 3 for the first call. The
case study's borrower is pinned to the champion — her story is the day-one call — and the pin is
recorded on her assignment, so the experiment report leaves her case out of its cohort.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, or_, select, update

from arrears.analytics.experiments import ExperimentReport, experiment_report
from arrears.analytics.loop import LoopReport, loop_report
from arrears.bootstrap import App
from arrears.channels.base import ChannelSet
from arrears.channels.config import CommsConfig
from arrears.channels.filesink import FileSink
from arrears.compliance.officer import seed_demo_events
from arrears.services.dispatch import DispatchReport, dispatch_once
from arrears.services.users import DEMO_USERS, Role, seed_demo_users, team_queue_names
from arrears.sim.floor import Floor
from arrears.sim.load import load_portfolio
from arrears.sim.portfolio import generate
from arrears.sim.story import STORY_BORROWER, add_case_study, timeline
from arrears.store import migrate
from arrears.store import tables as t
from arrears.strategy import loader
from arrears.strategy.plan import Pinned

DEFAULT_START = date(2026, 9, 1)
DEFAULT_STRATEGY = "seed_challenger_day3"
SEND_AT = time(10, 0)  # the dispatcher's run on each simulated day, lender's local time
LENDER_TZ = ZoneInfo("Asia/Shanghai")
HANDED_OUT = 3  # cases each demo agent finds in their own queue on the morning after


@dataclass(frozen=True)
class DemoResult:
    report: LoopReport
    timeline: list[str]
    start: date
    end: date
    experiment: ExperimentReport
    strategy_description: str = ""
    next_day: date | None = None  # the business date the demo leaves to be worked
    handed_out: dict[str, list[int]] = field(default_factory=dict)  # agent -> cases given
    queue_sizes: dict[str, int] = field(default_factory=dict)  # agent -> cases with work


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
        report = loop_report(conn, start, end)
        story = timeline(conn, start)
        experiment = experiment_report(conn, chosen.name, end, shares)
    # the next morning: the day's run plans the calls, nobody has worked them yet
    next_day = end + timedelta(days=1)
    app.run_day(next_day, strategy=planned)
    if deliver is not None:
        deliver(app, next_day)
    with app.engine.begin() as conn:
        seed_demo_users(conn)
        handed = hand_out_work(conn, next_day)
        queues = queue_sizes(conn, next_day)
    return DemoResult(
        report, story, start, end, experiment, chosen.description, next_day, handed, queues
    )


def queue_sizes(conn: Connection, day: date) -> dict[str, int]:
    """Per demo agent: the cases with calls to make on the day that their queue shows (their
    own and the unclaimed ones of their team's queues)."""
    c, a = t.cases, t.actions
    has_work = (
        select(a.c.id)
        .where(
            a.c.case_id == c.c.id,
            a.c.business_date == day,
            a.c.status.in_(["planned", "deferred"]),
            a.c.channel.in_(["call", "task"]),
        )
        .exists()
    )
    sizes = {}
    for name, role, _, team in DEMO_USERS:
        if role is not Role.AGENT:
            continue
        mine = or_(
            c.c.assigned_to == name,
            and_(c.c.assigned_to.is_(None), c.c.queue.in_(team_queue_names(conn, team))),
        )
        sizes[name] = int(
            conn.scalar(select(func.count()).where(c.c.status == "open", mine, has_work)) or 0
        )
    return sizes


def hand_out_work(conn: Connection, day: date, per_agent: int = HANDED_OUT) -> dict[str, list[int]]:
    """As a team lead would before the shift: give each demo agent a few of the day's cases with
    calls to make, in turns, from their team's queues (most urgent first); when a team's queues
    have no more work today its agent gets the most overdue case left in the others. The rest
    stay in the queues for "Next case". Returns the case ids given to each agent."""
    c, a = t.cases, t.actions
    work = (
        select(a.c.case_id, func.min(a.c.priority).label("priority"))
        .where(
            a.c.business_date == day,
            a.c.status.in_(["planned", "deferred"]),
            a.c.channel.in_(["call", "task"]),
        )
        .group_by(a.c.case_id)
        .subquery()
    )
    free = (
        select(c.c.id)
        .join(work, work.c.case_id == c.c.id)
        .where(c.c.status == "open", c.c.assigned_to.is_(None))
    )
    agents = [(name, team) for name, role, _, team in DEMO_USERS if role is Role.AGENT]
    queues = {name: team_queue_names(conn, team) for name, team in agents}
    handed: dict[str, list[int]] = {name: [] for name, _ in agents}
    for _ in range(per_agent):
        for name, _team in agents:
            case_id = conn.scalar(
                free.where(c.c.queue.in_(queues[name]))
                .order_by(work.c.priority, c.c.overdue_amount.desc(), c.c.id)
                .limit(1)
            )
            if case_id is None:
                case_id = conn.scalar(free.order_by(c.c.dpd.desc(), c.c.id.desc()).limit(1))
            if case_id is None:
                return handed
            conn.execute(update(c).where(c.c.id == case_id).values(assigned_to=name))
            handed[name].append(int(case_id))
    return handed


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
