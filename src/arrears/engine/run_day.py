"""The daily run: one business date, the whole portfolio, set-based, safe to re-run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar, cast

from sqlalchemy import Connection, Engine, delete, func, insert, select

from arrears.engine.cases import update_cases
from arrears.engine.charge_off import charge_off
from arrears.engine.config import RunConfig
from arrears.engine.delinquency import assess_accounts, open_assessment
from arrears.engine.enqueue import MESSAGE_CHANNELS, enqueue_messages
from arrears.engine.gate import DayGate, schedule_without_rules
from arrears.engine.legal_referral import refer_to_legal
from arrears.engine.penalty import accrue_penalty
from arrears.engine.plan_actions import plan_actions
from arrears.engine.posting import post_payments
from arrears.engine.quarantine import held, quarantine
from arrears.engine.settlement import settle
from arrears.engine.settlement_offers import decide_offers
from arrears.engine.specialist import move_vulnerable
from arrears.store import tables as t
from arrears.store.sql import planner
from arrears.store.staged_actions import close_staging, open_staging

T = TypeVar("T")

# PostgreSQL's memory for each sort, hash or bitmap of the run's statements (per process: the
# run and its parallel helpers); the whole-book statements ask for more (`WHOLE_BOOK_WORK_MEM`)
RUN_WORK_MEM = "64MB"


@dataclass(frozen=True)
class RunReport:
    as_of: date
    payments_posted: int
    penalty_items: int
    accounts_assessed: int  # accounts whose state could change today (the rest cannot)
    accounts_changed: int  # of those, accounts whose DPD, bucket or amounts changed
    cases_opened: int
    cases_closed: int
    promises_settled: int
    plans_completed: int
    plans_broken: int
    actions_planned: int
    messages_enqueued: int
    offers_settled: int = 0
    offers_lapsed: int = 0
    accounts_charged_off: int = 0
    cases_referred_to_legal: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)  # wall time of each step
    # accounts set aside (never the whole night): id -> why; their payments wait unposted
    quarantined: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data


def run_day(
    engine: Engine,
    as_of: date,
    *,
    config: RunConfig | None = None,
    gate: DayGate | None = None,
    rule_pack: str = "cn",
    strategy: object | None = None,
    on_step: Callable[[str, float], None] | None = None,
) -> RunReport:
    """Run every step for as_of in one transaction: a crash leaves the day as it was.
    `on_step(name, seconds)` hears of each step as it ends (the command's progress)."""
    config = config or RunConfig()
    gate = gate or schedule_without_rules
    spent: dict[str, float] = {}

    def step(name: str, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            spent[name] = round(time.perf_counter() - started, 3)
            if on_step is not None:
                on_step(name, spent[name])

    # PostgreSQL's JIT compiler takes longer over the run's statements than it saves them; with
    # the server's few megabytes per sort or hash, a night's bitmaps of the accounts behind went
    # lossy and its hashes to disk (ten million accounts: 6,000,000 rows rechecked for 619,000)
    with engine.begin() as conn, planner(conn, jit="off", work_mem=RUN_WORK_MEM):
        step("quarantine", lambda: quarantine(conn, as_of))
        step("open_assessment", lambda: open_assessment(conn, as_of))
        posted = step("post_payments", lambda: post_payments(conn, as_of, assessment_follows=True))
        penalty = step(
            "accrue_penalty",
            lambda: accrue_penalty(conn, as_of, config, assessment_follows=True),
        )
        settled = step("settle", lambda: settle(conn, as_of))
        offers = step("settlement_offers", lambda: decide_offers(conn, as_of))
        assessed = step(
            "assess_accounts", lambda: assess_accounts(conn, as_of, config, opened=True)
        )
        charged_off = step("charge_off", lambda: charge_off(conn, as_of, config))
        cases = step("update_cases", lambda: update_cases(conn, as_of))
        legal = step("legal_referral", lambda: refer_to_legal(conn, as_of))
        # planned into a staging table: the gate writes each action once, already decided
        staged = open_staging(conn)
        planned = step("plan_actions", lambda: plan_actions(conn, as_of, strategy, into=staged))
        step("specialist_queue", lambda: move_vulnerable(conn, as_of))
        step("gate", lambda: gate(conn, as_of, rule_pack, queue=MESSAGE_CHANNELS, staged=staged))
        enqueued = step("enqueue_messages", lambda: enqueue_messages(conn, as_of, staged=staged))
        close_staging(conn)
        quarantined = held(conn)  # before posting, or by the penalty and assessment steps
        _log_run(conn, as_of, assessed.changed)
        started = time.perf_counter()
    spent["commit"] = round(time.perf_counter() - started, 3)
    return RunReport(
        as_of=as_of,
        payments_posted=posted,
        penalty_items=penalty,
        accounts_assessed=assessed.assessed,
        accounts_changed=assessed.changed,
        cases_opened=cases.opened,
        cases_closed=cases.closed,
        promises_settled=settled.promises_settled,
        plans_completed=settled.plans_completed,
        plans_broken=settled.plans_broken,
        actions_planned=planned,
        messages_enqueued=enqueued,
        offers_settled=offers.settled,
        offers_lapsed=offers.lapsed,
        accounts_charged_off=charged_off,
        cases_referred_to_legal=legal,
        step_seconds=spent,
        quarantined=quarantined,
    )


def _log_run(conn: Connection, as_of: date, rows: int) -> None:
    """The day is done: the web's floor and the API work on the last business date run."""
    log = t.run_log
    done = (log.c.business_date == as_of) & (log.c.step == "run_day")
    conn.execute(delete(log).where(done))
    conn.execute(
        insert(log).values(
            business_date=as_of, step="run_day", finished_at=datetime.now(UTC), rows=rows
        )
    )


def last_business_date(conn: Connection) -> date | None:
    """The last business date the daily run finished: the day the floor, the API and the
    borrower page work on."""
    last = conn.scalar(select(func.max(t.run_log.c.business_date)))
    if isinstance(last, str):  # SQLite hands dates of an aggregate back as text
        return date.fromisoformat(last)
    return cast("date | None", last)
