"""`run_day_spark`: the daily run with delinquency, cases and strategy on Spark, by shard.

The order of the single-node run (`engine/run_day.py`) is kept; what runs where:

1. the ledger steps (quarantine, posting, penalty, settlement, offers) in the database, one
   transaction, as the single-node run does them;
2. the assessment on Spark over the extract; each shard's changed figures written back;
3. charge-off in the database (set-based, the single-node step);
4. the cases on Spark over a fresh extract of the accounts and cases; each shard written back;
5. the strategy on Spark (the compiled query, dialect `spark`) over a fresh extract that has
   the day's new cases and their ids; each shard's assignments, actions and queues written
   back;
6. in the database, one transaction: what a dispute or a placement pauses is taken back, then
   the compliance gate and the outbox run on the written actions, and the day is logged.

A shard whose write fails rolls back alone and the run stops with `ShardWriteFailed`, naming
it; the shards written before it stay written. Re-running the date computes everything again
and writes only what is missing (docs/spark.md).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine, select

from arrears.domain.errors import DomainError
from arrears.domain.strategy.model import Strategy
from arrears.engine.charge_off import charge_off
from arrears.engine.config import RunConfig
from arrears.engine.delinquency import dequeue_assessed
from arrears.engine.enqueue import MESSAGE_CHANNELS, enqueue_messages
from arrears.engine.gate import DayGate, schedule_without_rules
from arrears.engine.penalty import accrue_penalty
from arrears.engine.plan_actions import plan_actions
from arrears.engine.posting import post_payments
from arrears.engine.quarantine import held, quarantine
from arrears.engine.run_day import RunReport, _log_run
from arrears.engine.settlement import settle
from arrears.engine.settlement_offers import decide_offers
from arrears.engine.spark import extract as ex
from arrears.engine.spark import jobs, writeback
from arrears.store.tables import cases
from arrears.strategy.compile import uses_scores
from arrears.strategy.deployed import plan_groups
from arrears.strategy.loader import BUILTIN, load
from arrears.strategy.plan import Pinned

T = TypeVar("T")


class ShardWriteFailed(DomainError):
    """One shard's write-back failed; the shards before it are written."""


class SparkStrategyUnsupported(DomainError):
    """The day's cases are planned by more than one strategy (an experiment of shipped
    strategies, several deployed versions, pinned variants): the Spark run plans with one."""


@dataclass(frozen=True)
class SparkOptions:
    shards: int = 4
    master: str = "local[2]"  # "" when spark-submit gives it
    workdir: Path | None = None  # the extract and results; a temporary folder when None
    shuffle_partitions: int = 8

    def __post_init__(self) -> None:
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or self.shards < 1:
            raise ValueError(f"shards: {self.shards!r} is not a whole number >= 1")


def run_day_spark(
    engine: Engine,
    as_of: date,
    *,
    options: SparkOptions | None = None,
    config: RunConfig | None = None,
    gate: DayGate | None = None,
    rule_pack: str = "cn",
    strategy: object | None = None,
    on_step: Callable[[str, float], None] | None = None,
    spark: object | None = None,
) -> RunReport:
    """The day's run with delinquency, cases and strategy on Spark; the same report as
    `run_day`'s. `spark`: a session to use (tests share one), else one from the options."""
    options = options or SparkOptions()
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

    if isinstance(strategy, Pinned):
        raise SparkStrategyUnsupported(
            "pinned variants are placed one borrower at a time: run the day without --engine spark"
        )
    with engine.begin() as conn:
        # the assessment is Spark's: the accounts behind are checked here, before it
        step("quarantine", lambda: quarantine(conn, as_of, behind=True))
        posted = step("post_payments", lambda: post_payments(conn, as_of))
        penalty = step("accrue_penalty", lambda: accrue_penalty(conn, as_of, config))
        settled = step("settle", lambda: settle(conn, as_of))
        offers = step("settlement_offers", lambda: decide_offers(conn, as_of))
        quarantined = held(conn)
    with tempfile.TemporaryDirectory(prefix="arrears-spark-") as scratch:
        work = options.workdir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        session = spark or step(
            "spark_start", lambda: jobs.session(options.master, options.shuffle_partitions)
        )
        day = _Day(engine, session, work, options.shards, as_of, step)
        assessed, changed = day.assess(config)
        with engine.begin() as conn:
            charged_off = step("charge_off", lambda: charge_off(conn, as_of, config))
        opened, closed = day.cases()
        planned = day.strategy(strategy)
    with engine.begin() as conn:
        # the single-node planning of no case: it plans nothing and takes back what a
        # dispute or a hand-over (agency, legal) pauses, by the same rules
        paused = -plan_actions(conn, as_of, day.chosen, case_ids=[])
        step("gate", lambda: gate(conn, as_of, rule_pack, queue=MESSAGE_CHANNELS))
        enqueued = step("enqueue_messages", lambda: enqueue_messages(conn, as_of))
        _log_run(conn, as_of, changed)
    return RunReport(
        as_of=as_of,
        payments_posted=posted,
        penalty_items=penalty,
        accounts_assessed=assessed,
        accounts_changed=changed,
        cases_opened=opened,
        cases_closed=closed,
        promises_settled=settled.promises_settled,
        plans_completed=settled.plans_completed,
        plans_broken=settled.plans_broken,
        actions_planned=planned - paused,
        messages_enqueued=enqueued,
        offers_settled=offers.settled,
        offers_lapsed=offers.lapsed,
        accounts_charged_off=charged_off,
        step_seconds=spent,
        quarantined=quarantined,
    )


@dataclass
class _Day:
    engine: Engine
    spark: object
    work: Path
    shards: int
    as_of: date
    step: Callable[[str, Callable[[], object]], object]
    chosen: Strategy | None = None  # the strategy of the day, once known

    def _extract(self, name: str, tables: tuple[str, ...]) -> None:
        folder = self.work / "extract"

        def run() -> None:
            with self.engine.connect() as conn:
                ex.extract(conn, folder, self.shards, tables)
            jobs.register(self.spark, folder, tables)

        self.step(f"extract_{name}", run)

    def _each_shard(self, name: str, write: Callable[[Connection, int], T]) -> list[T]:
        def run() -> list[T]:
            done = []
            for shard in range(self.shards):
                try:
                    with self.engine.begin() as conn:
                        done.append(write(conn, shard))
                except Exception as exc:
                    raise ShardWriteFailed(
                        f"{name}: shard {shard} of {self.shards} was not written ({exc}); "
                        f"shards 0-{shard - 1} are. Re-run the date: what is written stays, "
                        "the rest is written"
                        if shard
                        else f"{name}: shard 0 of {self.shards} was not written ({exc}). "
                        "Re-run the date"
                    ) from exc
            return done

        return self.step(f"write_{name}", run)  # type: ignore[return-value]

    def assess(self, config: RunConfig) -> tuple[int, int]:
        self._extract("assess", ex.ASSESS)
        out = self.work / "results" / "accounts"
        self.step(
            "spark_assess", lambda: jobs.write(self.spark, jobs.assess_sql(self.as_of, config), out)
        )
        written = self._each_shard(
            "assess", lambda conn, k: writeback.write_assessment(conn, out, k, self.as_of)
        )
        with self.engine.begin() as conn:  # left queued, an account is only assessed again
            dequeue_assessed(conn)
        return sum(w.assessed for w in written), sum(w.changed for w in written)

    def cases(self) -> tuple[int, int]:
        self._extract("cases", ex.CASES)
        out = self.work / "results" / "cases"
        self.step("spark_cases", lambda: jobs.write(self.spark, jobs.cases_sql(self.as_of), out))
        written = self._each_shard(
            "cases", lambda conn, k: writeback.write_cases(conn, out, k, self.as_of)
        )
        return sum(o for o, _ in written), sum(c for _, c in written)

    def strategy(self, strategy: object | None) -> int:
        with self.engine.begin() as conn:
            chosen = self.chosen = _strategy_of(conn, self.as_of, strategy)
        if uses_scores(chosen):
            raise SparkStrategyUnsupported(
                f"strategy {chosen.name!r} reads the day's scores (p_pay_30, p_self_cure), "
                "which the extract does not carry: run the day without --engine spark"
            )
        self._extract("strategy", ex.STRATEGY)
        results = self.work / "results"

        def compute() -> None:
            jobs.write(
                self.spark, jobs.assignments_sql(chosen, self.as_of), results / "assignments"
            )
            jobs.facts_view(self.spark, chosen, self.as_of)
            jobs.actions_view(self.spark, chosen, self.as_of)
            jobs.write(self.spark, jobs.ACTIONS, results / "actions")
            jobs.write(self.spark, jobs.queues_sql(chosen), results / "queues")
            self.spark.catalog.clearCache()  # type: ignore[attr-defined]

        self.step("spark_strategy", compute)
        written = self._each_shard(
            "strategy",
            lambda conn, k: writeback.write_strategy(conn, results, k, chosen, self.as_of),
        )
        return sum(written)


def _strategy_of(conn: Connection, as_of: date, strategy: object | None) -> Strategy:
    """The one strategy that plans every open case today (as `engine/plan_actions.py` chooses
    it), or SparkStrategyUnsupported."""
    if strategy is not None:
        return load(strategy)
    groups = plan_groups(conn, as_of, None)
    if groups is not None:
        if len(groups) > 1:
            names = ", ".join(sorted({g.name for g, _ in groups}))
            raise SparkStrategyUnsupported(
                f"open cases are planned by {len(groups)} deployed versions ({names}): "
                "run the day without --engine spark"
            )
        return groups[0][0] if groups else load(None)
    running = set(
        conn.scalars(
            select(cases.c.strategy)
            .where(cases.c.status == "open", cases.c.strategy != "seed")
            .distinct()
        )
    )
    if running & set(BUILTIN):
        raise SparkStrategyUnsupported(
            f"open cases run the experiment {', '.join(sorted(running & set(BUILTIN)))}: "
            "run the day without --engine spark, or give --strategy"
        )
    return load(None)
