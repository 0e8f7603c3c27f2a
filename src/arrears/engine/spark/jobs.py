# ruff: noqa: E501  (SQL reads better unbroken)
"""The Spark SQL of the partitioned run: each step's statement over the Parquet extract.

Every result carries the borrower's shard and is written partitioned by it
(`<result>/shard=<k>/`), for the write-back of each shard in its own transaction.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from arrears.domain.strategy.model import Strategy
from arrears.engine.config import RunConfig
from arrears.engine.delinquency import _by_tolerance
from arrears.engine.spark.extract import SOURCES
from arrears.store.tables import PHONE_UNUSABLE
from arrears.strategy.compile import Sql, actions_from, quote, segments_query

Spark = Any  # pyspark.sql.SparkSession: imported only when a Spark run is asked for

_OWED = (
    "(i.principal + i.interest + i.fee + i.penalty"
    " - i.paid_principal - i.paid_interest - i.paid_fee - i.paid_penalty)"
)


def session(master: str, shuffle_partitions: int) -> Spark:
    """A Spark session: `master` local[2] in tests, or the cluster spark-submit gives."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("arrears run-day")
    if master:
        builder = builder.master(master)
    spark = (
        builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def register(spark: Spark, folder: Path, tables: tuple[str, ...]) -> None:
    """Each extracted table as a view of its name (an empty table where nothing was written)."""
    for name in tables:
        path = folder / name
        schema = SOURCES[name].spark_schema()
        if any(path.glob("shard=*/*.parquet")):
            frame = spark.read.schema(schema).parquet(str(path))
        else:
            frame = spark.createDataFrame([], schema)
        frame.createOrReplaceTempView(name)


def write(spark: Spark, query: str, out: Path) -> None:
    """The rows of `query`, partitioned by shard under `out` (replaced)."""
    spark.sql(query).write.mode("overwrite").partitionBy("shard").parquet(str(out))


def _d(as_of: date) -> str:
    return f"DATE '{as_of.isoformat()}'"


def plan_dpd_sql(as_of: date) -> str:
    """Per borrower under an active plan: the DPD of the plan's oldest unpaid instalment."""
    d = _d(as_of)
    oldest = f"MIN(CASE WHEN pi.status <> 'paid' AND pi.due_on < {d} THEN pi.due_on END)"
    return f"""SELECT c.borrower_id, COALESCE(datediff({d}, {oldest}), 0) AS dpd
               FROM plans pl JOIN cases c ON c.id = pl.case_id
               JOIN plan_instalments pi ON pi.plan_id = pl.id
               WHERE pl.status = 'active' GROUP BY c.borrower_id"""


def assess_sql(as_of: date, config: RunConfig) -> str:
    """Every account's figures as of the date (`engine/delinquency.py`, the whole portfolio):
    `kind` 'assessed' (all figures) or 'reaged' (a charged-off account following its
    borrower's plan: DPD and bucket), `changed` when the row must be written, and `history`
    when the account is past due after the day (its `delinquency_history` row)."""
    d = _d(as_of)
    tolerances = config.tolerance_values()
    overdue_part = f"CASE WHEN i.due_on < {d} THEN {_OWED} ELSE 0 END"
    passed = ", ".join(
        f"MIN(CASE WHEN r.overdue_part > 0 AND r.running > {minor} THEN r.due_on END) AS oldest_due_{n}"
        for n, minor in enumerate(tolerances)
    )
    oldest_due = _by_tolerance(
        config, "a.currency", {minor: f"agg.oldest_due_{n}" for n, minor in enumerate(tolerances)}
    )
    raw_dpd = f"COALESCE(datediff({d}, {oldest_due}), 0)"
    differs = " OR ".join(
        f"NOT (a.{old} <=> n.{new})"
        for old, new in (
            ("dpd", "dpd"),
            ("overdue_amount", "overdue"),
            ("outstanding", "outstanding"),
            ("status", "status"),
            ("bucket", "bucket"),
        )
    )
    return f"""
WITH running AS (
  SELECT i.account_id, i.due_on, {_OWED} AS owed, {overdue_part} AS overdue_part,
         SUM({overdue_part}) OVER (PARTITION BY i.account_id ORDER BY i.due_on, i.seq
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
  FROM due_items i LEFT ANTI JOIN quarantined_accounts q ON q.account_id = i.account_id
),
agg AS (
  SELECT r.account_id, SUM(r.overdue_part) AS overdue, SUM(r.owed) AS outstanding, {passed}
  FROM running r GROUP BY r.account_id
),
pd AS ({plan_dpd_sql(as_of)}),
assessed AS (
  SELECT a.id, CASE WHEN {raw_dpd} > 0 AND pd.borrower_id IS NOT NULL THEN pd.dpd ELSE {raw_dpd} END AS dpd,
         agg.overdue, agg.outstanding,
         CASE WHEN agg.outstanding <= 0 THEN 'paid_off' ELSE 'active' END AS status
  FROM agg JOIN accounts a ON a.id = agg.account_id
  LEFT JOIN pd ON pd.borrower_id = a.borrower_id
  WHERE a.status NOT IN ('charged_off', 'sold')
),
n AS (SELECT x.*, {config.bucket_case("x.dpd")} AS bucket FROM assessed x),
reaged AS (
  SELECT a.id, pd.dpd, {config.bucket_case("pd.dpd")} AS bucket
  FROM accounts a JOIN pd ON pd.borrower_id = a.borrower_id
  WHERE a.dpd > 0 AND a.status = 'charged_off' AND NOT (a.dpd <=> pd.dpd)
)
SELECT a.id, a.shard,
       CASE WHEN n.id IS NOT NULL THEN 'assessed' WHEN g.id IS NOT NULL THEN 'reaged' END AS kind,
       COALESCE(n.dpd, g.dpd, a.dpd) AS dpd, COALESCE(n.bucket, g.bucket, a.bucket) AS bucket,
       COALESCE(n.overdue, a.overdue_amount) AS overdue, COALESCE(n.outstanding, a.outstanding) AS outstanding,
       COALESCE(n.status, a.status) AS status,
       (g.id IS NOT NULL OR (n.id IS NOT NULL AND (a.state_as_of IS NULL OR {differs}))) AS changed,
       COALESCE(n.dpd, g.dpd, a.dpd) > 0 AS history
FROM accounts a
LEFT JOIN n ON n.id = a.id
LEFT JOIN reaged g ON g.id = a.id
"""


def cases_sql(as_of: date) -> str:
    """Per borrower (`engine/cases.py`): `open_case` with the opening figures of a borrower
    newly delinquent with no open case; the figures of every borrower with an open case
    (`dpd`, `bucket`, `overdue`); `close` ('cured' or 'paid_off') for an open case whose
    borrower is no longer past due and keeps no active plan; `unreachable` for an open case
    whose borrower's own number is known wrong and not yet marked today."""
    d = _d(as_of)
    return f"""
WITH oc AS (SELECT * FROM cases WHERE status = 'open'),
new AS (
  SELECT a.borrower_id, MIN(a.currency) AS currency, SUM(a.overdue_amount) AS overdue,
         MAX(a.dpd) AS dpd, MAX(a.bucket) AS bucket
  FROM accounts a
  WHERE a.dpd > 0 AND a.status NOT IN ('charged_off', 'sold')
    AND NOT EXISTS (SELECT 1 FROM oc WHERE oc.borrower_id = a.borrower_id)
  GROUP BY a.borrower_id
),
open_now AS (
  SELECT borrower_id, unreachable_on, id AS case_id FROM oc
  UNION ALL SELECT borrower_id, CAST(NULL AS DATE), CAST(NULL AS BIGINT) FROM new
),
fig AS (
  SELECT a.borrower_id, MAX(a.dpd) AS dpd, MAX(a.bucket) AS bucket,
         SUM(a.overdue_amount) AS overdue, SUM(a.outstanding) AS outstanding, MIN(a.shard) AS shard
  FROM accounts a WHERE a.borrower_id IN (SELECT borrower_id FROM open_now)
  GROUP BY a.borrower_id
),
active_plan AS (SELECT DISTINCT case_id FROM plans WHERE status = 'active')
SELECT o.borrower_id, fig.shard, fig.dpd, fig.bucket, fig.overdue,
       new.borrower_id IS NOT NULL AS open_case, new.currency AS open_currency,
       new.overdue AS open_overdue, new.dpd AS open_dpd, new.bucket AS open_bucket,
       CASE WHEN fig.dpd = 0 AND o.case_id NOT IN (SELECT case_id FROM active_plan)
            THEN CASE WHEN fig.outstanding <= 0 THEN 'paid_off' ELSE 'cured' END END AS close,
       (b.{PHONE_UNUSABLE}
        AND (o.unreachable_on IS NULL OR o.unreachable_on < {d})) AS unreachable
FROM open_now o
JOIN fig ON fig.borrower_id = o.borrower_id
JOIN borrowers b ON b.id = o.borrower_id
LEFT JOIN new ON new.borrower_id = o.borrower_id
"""


def assignments_sql(strategy: Strategy, as_of: date) -> str:
    """Open cases without a variant of the strategy, with the variant the hash gives them
    (the SQL of `strategy/plan.py`'s `assign_variants`), and every open case whose row does
    not yet mirror its assignment."""
    from arrears.strategy.compile import bucket_sql, variant_sql

    name = quote(strategy.name)
    return f"""
WITH oc AS (SELECT * FROM cases WHERE status = 'open'),
fresh AS (
  SELECT oc.id AS case_id, {bucket_sql(strategy, "oc.id")} AS bucket,
         {variant_sql(strategy, "oc.id")} AS variant
  FROM oc LEFT ANTI JOIN strategy_assignments s ON s.case_id = oc.id AND s.strategy = {name}
),
given AS (
  SELECT case_id, variant FROM strategy_assignments WHERE strategy = {name}
  UNION ALL SELECT case_id, variant FROM fresh
)
SELECT oc.id AS case_id, oc.shard, fresh.bucket, g.variant, fresh.case_id IS NOT NULL AS fresh,
       (oc.strategy <> {name} OR oc.variant <> g.variant) AS mirror
FROM oc JOIN given g ON g.case_id = oc.id
LEFT JOIN fresh ON fresh.case_id = oc.id
WHERE fresh.case_id IS NOT NULL OR oc.strategy <> {name} OR oc.variant <> g.variant
"""


def facts_view(spark: Spark, strategy: Strategy, as_of: date) -> None:
    """Every open case's fields and segment (the compiled strategy, dialect `spark`), cached
    as `case_facts` for the actions and the queues."""
    facts = spark.sql(segments_query(strategy, "spark", as_of))
    facts.cache().createOrReplaceTempView("case_facts")


def actions_view(spark: Spark, strategy: Strategy, as_of: date) -> None:
    """The day's actions (the compiled strategy's `actions_from` over `case_facts`), cached as
    `planned` for their write and the queues."""
    planned = spark.sql(f"""
SELECT q.case_id, c.shard, q.step, q.target_type, CAST(q.target_id AS STRING) AS target_id,
       q.channel, q.template, q.priority, q.queue
FROM ({actions_from(strategy, Sql("spark").dialect, as_of, "case_facts")}) q
JOIN cases c ON c.id = q.case_id
""")
    planned.cache().createOrReplaceTempView("planned")


ACTIONS = (
    "SELECT case_id, shard, step, target_type, target_id, channel, template, priority FROM planned"
)


def queues_sql(strategy: Strategy) -> str:
    """Each open case's queue (`strategy/plan.py`'s `_set_queues`): its segment's, then the
    queue of an action planned today; only the cases whose queue changes."""
    segment = [(s.name, s.queue) for s in strategy.segments if s.queue]
    by_segment = (
        "CASE x.segment "
        + " ".join(f"WHEN {quote(n)} THEN {quote(q)}" for n, q in segment)
        + " END"
        if segment
        else "CAST(NULL AS STRING)"
    )
    by_action = "CAST(NULL AS STRING)"
    joins = ""
    if any(a.queue for st in strategy.steps for a in st.actions):
        joins = """LEFT JOIN (SELECT case_id, MIN(queue) AS queue FROM planned
                              WHERE queue IS NOT NULL GROUP BY case_id) aq ON aq.case_id = x.case_id"""
        by_action = "aq.queue"
    return f"""
SELECT x.case_id, c.shard, COALESCE({by_action}, {by_segment}) AS queue
FROM case_facts x JOIN cases c ON c.id = x.case_id {joins}
WHERE COALESCE({by_action}, {by_segment}) IS NOT NULL
  AND COALESCE({by_action}, {by_segment}) <> c.queue
"""
