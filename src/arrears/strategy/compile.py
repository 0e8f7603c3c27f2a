# ruff: noqa: E501  (messages and SQL read better unbroken)
"""Compile a strategy to one set-based SQL query over every open case at once.

The query yields one row per planned action (case, step, target, channel, template, priority)
and runs unchanged in spirit on SQLite, PostgreSQL, DuckDB and Spark SQL (the partitioned run,
`engine/spark/`): only date arithmetic and boolean spellings differ. Conditions become SQL
expressions whose NULL logic is the reference evaluator's three-valued logic; nothing is
evaluated row by row in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from arrears.domain.money import Money
from arrears.domain.strategy.expr import (
    Arith,
    Call,
    Compare,
    FieldRef,
    In,
    Lit,
    Logic,
    Neg,
    Node,
    Not,
    fields_used,
)
from arrears.domain.strategy.model import Addressees, Event, Step, Strategy
from arrears.domain.strategy.variants import PRIME, salt_keys

DIALECTS = ("sqlite", "postgresql", "duckdb", "spark")
COLUMNAR = ("duckdb", "spark")  # engines that join materialised aggregates by hash


@dataclass(frozen=True)
class Sql:
    dialect: str

    def date(self, d: date) -> str:
        if self.dialect == "sqlite":
            return f"'{d.isoformat()}'"
        return f"DATE '{d.isoformat()}'"

    def days_between(self, later: str, earlier: str) -> str:
        if self.dialect == "sqlite":
            return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
        if self.dialect == "spark":  # DATE - DATE is an interval in Spark SQL
            return f"datediff({later}, {earlier})"
        return f"CAST(({later} - {earlier}) AS INTEGER)"

    def by_id(self, column: str) -> str:
        """Text ordering by code point (Python's), whatever the database's collation."""
        return f'{column} COLLATE "C"' if self.dialect == "postgresql" else column

    @property
    def double(self) -> str:
        return "DOUBLE" if self.dialect == "spark" else "DOUBLE PRECISION"

    @property
    def true(self) -> str:
        return "1" if self.dialect == "sqlite" else "TRUE"


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def expression(node: Node, alias: str = "f") -> str:
    """SQL for a checked expression; fields are columns of `alias`; money in minor units."""
    if isinstance(node, Lit):
        v = node.value
        if isinstance(v, bool):
            return "(1=1)" if v else "(1=0)"
        if isinstance(v, Money):  # an amount of the strategy's currency: unknown in another
            return f"(CASE WHEN {alias}.currency = {quote(v.currency)} THEN {v.to_minor()} END)"
        if isinstance(v, str):
            return quote(v)
        if isinstance(v, Decimal):  # a probability, 0 to 1
            return format(v, "f")
        return str(int(v))
    if isinstance(node, FieldRef):
        return f"{alias}.{node.name}"
    if isinstance(node, Neg):
        return f"(-{expression(node.operand, alias)})"
    if isinstance(node, Arith):
        return f"({expression(node.left, alias)} {node.op} {expression(node.right, alias)})"
    if isinstance(node, Compare):
        op = {"==": "=", "!=": "<>"}.get(node.op, node.op)
        return f"({expression(node.left, alias)} {op} {expression(node.right, alias)})"
    if isinstance(node, In):
        items = ", ".join(expression(i, alias) for i in node.items)
        neg = "NOT " if node.negated else ""
        return f"({expression(node.operand, alias)} {neg}IN ({items}))"
    if isinstance(node, Logic):
        joiner = f" {node.op.upper()} "
        return "(" + joiner.join(expression(o, alias) for o in node.operands) + ")"
    if isinstance(node, Not):
        return f"(NOT {expression(node.operand, alias)})"
    if isinstance(node, Call):
        args = [expression(a, alias) for a in node.args]
        if node.name == "is_set":
            return f"({args[0]} IS NOT NULL)"
        if node.name == "coalesce":
            return f"COALESCE({args[0]}, {args[1]})"
        if node.name == "abs":
            return f"ABS({args[0]})"
        a, b = args
        pick = "<=" if node.name == "min" else ">="
        return f"(CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL WHEN {a} {pick} {b} THEN {a} ELSE {b} END)"
    raise AssertionError(node)


def bool_column(sql: Sql, condition: str) -> str:
    """A 0/1 (SQLite) or boolean column from a condition; never NULL."""
    return f"(CASE WHEN {condition} THEN {sql.true} ELSE {'0' if sql.dialect == 'sqlite' else 'FALSE'} END)"


def bucket_sql(strategy: Strategy, case_id: str) -> str:
    k1, k2 = salt_keys(strategy.salt)
    return f"(((CAST({case_id} AS BIGINT) * {k1} + {k2}) % {PRIME}) % 100)"


def variant_sql(strategy: Strategy, case_id: str) -> str:
    bucket = bucket_sql(strategy, case_id)
    whens, upper = [], 0
    for v in strategy.variants:
        upper += v.share
        whens.append(f"WHEN {bucket} < {upper} THEN {quote(v.name)}")
    return f"(CASE {' '.join(whens)} ELSE {quote(strategy.variants[-1].name)} END)"


SCORE_FIELDS = ("p_pay_30", "p_self_cure")


def uses_scores(strategy: Strategy) -> bool:
    """Whether a segment or step condition reads a score of the day."""
    conditions = [s.when for s in strategy.segments] + [s.when for s in strategy.steps]
    return any(fields_used(c) & set(SCORE_FIELDS) for c in conditions)


def score_sql(strategy: Strategy, sql: Sql, d: str) -> tuple[str, str]:
    """The score columns and their join: the case's row of `lab_scores` on the date, by its
    key (a case not scored that day reads NULL). No join when no condition reads a score."""
    if not uses_scores(strategy):
        nothing = f"CAST(NULL AS {sql.double})"
        return f",\n         {nothing} AS p_pay_30, {nothing} AS p_self_cure", ""
    return (
        ",\n         ls.p_pay_30, ls.p_self_cure",
        f"\n  LEFT JOIN lab_scores ls ON ls.case_id = oc.id AND ls.as_of = {d}",
    )


def facts_sql(strategy: Strategy, sql: Sql, as_of: date, case_filter: str = "") -> str:
    """One row of fields per open case, in any currency (the CTEs, ending in `f`):
    aggregates joined by hash, the shape a columnar engine (DuckDB, Spark) runs best."""
    d = sql.date(as_of)
    score_columns, score_join = score_sql(strategy, sql, d)
    latest_promise = """SELECT case_id, status, ROW_NUMBER() OVER (PARTITION BY case_id
                         ORDER BY made_on DESC, id DESC) AS rn FROM promises
                         WHERE case_id IN (SELECT id FROM oc)"""
    latest_plan = """SELECT case_id, status, ROW_NUMBER() OVER (PARTITION BY case_id
                      ORDER BY proposed_on DESC, id DESC) AS rn FROM plans
                      WHERE case_id IN (SELECT id FROM oc)"""
    return f"""
oc AS (
  SELECT c.id, c.borrower_id, c.currency, c.opened_on, c.dpd, c.bucket, c.overdue_amount,
         c.hardship, c.unreachable_on, c.last_contact_on
  FROM cases c
  WHERE c.status = 'open'{case_filter}
),
acc AS (
  SELECT a.borrower_id, SUM(a.outstanding) AS balance, COUNT(*) AS n,
         SUM(CASE WHEN a.dpd > 0 THEN 1 ELSE 0 END) AS delinquent
  FROM accounts a WHERE a.borrower_id IN (SELECT borrower_id FROM oc)
  GROUP BY a.borrower_id
),
worst AS (
  SELECT w.borrower_id, w.product FROM (
    SELECT a.borrower_id, a.product,
           ROW_NUMBER() OVER (PARTITION BY a.borrower_id
                              ORDER BY a.dpd DESC, a.overdue_amount DESC, {sql.by_id("a.id")}) AS rk
    FROM accounts a WHERE a.borrower_id IN (SELECT borrower_id FROM oc)) w
  WHERE w.rk = 1
),
con AS (
  SELECT ct.borrower_id, COUNT(*) AS n FROM contacts ct
  WHERE ct.consent = {sql.true} AND ct.status = 'active'
    AND ct.borrower_id IN (SELECT borrower_id FROM oc)
  GROUP BY ct.borrower_id
),
ptp AS (
  SELECT case_id, MAX(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS has_open,
         MAX(CASE WHEN rn = 1 THEN status END) AS latest
  FROM ({latest_promise}) x GROUP BY case_id
),
pln AS (
  SELECT case_id, MAX(CASE WHEN status = 'active' THEN 1 ELSE 0 END) AS has_active,
         MAX(CASE WHEN rn = 1 THEN status END) AS latest
  FROM ({latest_plan}) x GROUP BY case_id
),
asg AS (
  SELECT case_id, variant FROM strategy_assignments WHERE strategy = {quote(strategy.name)}
),
f AS (
  SELECT oc.id AS case_id, oc.borrower_id, oc.currency, oc.opened_on, oc.unreachable_on,
         oc.dpd, oc.bucket, oc.overdue_amount,
         COALESCE(acc.balance, 0) AS balance,
         worst.product AS product,
         COALESCE(acc.n, 0) AS accounts,
         COALESCE(acc.delinquent, 0) AS delinquent_accounts,
         b.risk_score, b.language, b.region, b.phone_status,
         CASE WHEN oc.last_contact_on IS NULL THEN NULL
              ELSE {sql.days_between(d, "oc.last_contact_on")} END AS days_since_last_contact,
         {sql.days_between(d, "oc.opened_on")} AS days_open,
         COALESCE(con.n, 0) AS contacts_reachable,
         CASE WHEN ptp.has_open = 1 THEN 'open' ELSE COALESCE(ptp.latest, 'none') END AS ptp_status,
         CASE WHEN pln.has_active = 1 THEN 'active' ELSE COALESCE(pln.latest, 'none') END AS plan_status,
         oc.hardship,
         {bool_column(sql, f"oc.unreachable_on = {d}")} AS unreachable,
         COALESCE(asg.variant, {variant_sql(strategy, "oc.id")}) AS variant{score_columns}
  FROM oc
  JOIN borrowers b ON b.id = oc.borrower_id
  LEFT JOIN acc ON acc.borrower_id = oc.borrower_id
  LEFT JOIN worst ON worst.borrower_id = oc.borrower_id
  LEFT JOIN con ON con.borrower_id = oc.borrower_id
  LEFT JOIN ptp ON ptp.case_id = oc.id
  LEFT JOIN pln ON pln.case_id = oc.id
  LEFT JOIN asg ON asg.case_id = oc.id{score_join}
)"""


# what every plan reads of a case besides its conditions: the triggers' dates and days past due,
# the actions' targets, and the currency an amount in a condition is compared in
PLAN_FIELDS = frozenset(
    {"case_id", "borrower_id", "currency", "opened_on", "unreachable_on", "dpd"}
)


def fields_read(strategy: Strategy) -> frozenset[str]:
    """The fields the strategy's plan reads of a case: its segments' and steps' conditions, the
    variant when a step is limited to some, and those every plan reads (`PLAN_FIELDS`)."""
    read = set(PLAN_FIELDS)
    for node in [s.when for s in strategy.segments] + [s.when for s in strategy.steps]:
        read |= fields_used(node)
    if any(s.variants for s in strategy.steps):
        read.add("variant")
    return frozenset(read)


def row_store_facts_sql(
    strategy: Strategy,
    sql: Sql,
    as_of: date,
    case_filter: str = "",
    fields: frozenset[str] | None = None,
) -> str:
    """The same fields as `facts_sql`, for SQLite and PostgreSQL: per open case, index look-ups
    (accounts, contacts, promises, plans, assignment by borrower or case id), so the cost grows
    with the open cases — a join against materialised aggregates can turn into a nested scan
    of them (SQLite: 180 s for 30,000 cases). `fields`: only those (None: every field); a
    field left out costs nothing — the seed reads none of the accounts and contacts, whose
    look-ups were most of the facts' time (PostgreSQL, 100,000 cases: 1.7 s, 0.45 s without)."""
    d = sql.date(as_of)
    name = quote(strategy.name)
    score_columns, score_join = score_sql(strategy, sql, d)
    of_borrower = "a.borrower_id = oc.borrower_id"
    columns = [
        ("case_id", "oc.id AS case_id"),
        ("borrower_id", "oc.borrower_id"),
        ("currency", "oc.currency"),
        ("opened_on", "oc.opened_on"),
        ("unreachable_on", "oc.unreachable_on"),
        ("dpd", "oc.dpd"),
        ("bucket", "oc.bucket"),
        ("overdue_amount", "oc.overdue_amount"),
        (
            "balance",
            f"COALESCE((SELECT SUM(a.outstanding) FROM accounts a WHERE {of_borrower}), 0) AS balance",
        ),
        (
            "product",
            f"""(SELECT a.product FROM accounts a WHERE {of_borrower}
          ORDER BY a.dpd DESC, a.overdue_amount DESC, {sql.by_id("a.id")} LIMIT 1) AS product""",
        ),
        ("accounts", f"(SELECT COUNT(*) FROM accounts a WHERE {of_borrower}) AS accounts"),
        (
            "delinquent_accounts",
            f"(SELECT COUNT(*) FROM accounts a WHERE {of_borrower} AND a.dpd > 0) AS delinquent_accounts",
        ),
        ("risk_score", "b.risk_score"),
        ("language", "b.language"),
        ("region", "b.region"),
        ("phone_status", "b.phone_status"),
        ("timezone", "b.timezone"),
        ("jurisdiction", "b.jurisdiction"),
        ("phone_index", "b.phone_index"),
        (
            "days_since_last_contact",
            f"""CASE WHEN oc.last_contact_on IS NULL THEN NULL
              ELSE {sql.days_between(d, "oc.last_contact_on")} END AS days_since_last_contact""",
        ),
        ("days_open", f"{sql.days_between(d, 'oc.opened_on')} AS days_open"),
        (
            "contacts_reachable",
            f"""(SELECT COUNT(*) FROM contacts ct WHERE ct.borrower_id = oc.borrower_id
            AND ct.consent = {sql.true} AND ct.status = 'active') AS contacts_reachable""",
        ),
        (
            "ptp_status",
            """CASE WHEN EXISTS (SELECT 1 FROM promises p WHERE p.case_id = oc.id AND p.status = 'open')
              THEN 'open'
              ELSE COALESCE((SELECT p.status FROM promises p WHERE p.case_id = oc.id
                             ORDER BY p.made_on DESC, p.id DESC LIMIT 1), 'none') END AS ptp_status""",
        ),
        (
            "plan_status",
            """CASE WHEN EXISTS (SELECT 1 FROM plans p WHERE p.case_id = oc.id AND p.status = 'active')
              THEN 'active'
              ELSE COALESCE((SELECT p.status FROM plans p WHERE p.case_id = oc.id
                             ORDER BY p.proposed_on DESC, p.id DESC LIMIT 1), 'none') END AS plan_status""",
        ),
        ("hardship", "oc.hardship"),
        ("unreachable", f"{bool_column(sql, f'oc.unreachable_on = {d}')} AS unreachable"),
        (
            "variant",
            f"""COALESCE((SELECT s.variant FROM strategy_assignments s
                   WHERE s.case_id = oc.id AND s.strategy = {name}),
                  {variant_sql(strategy, "oc.id")}) AS variant""",
        ),
    ]
    chosen = ",\n         ".join(c for f, c in columns if fields is None or f in fields)
    if fields is None or fields & set(SCORE_FIELDS):
        chosen += score_columns
    # the borrowers stay joined whichever fields are read: the join gives the rows their order,
    # and the actions their numbers in it
    return f"""
oc AS (
  SELECT c.id, c.borrower_id, c.currency, c.opened_on, c.dpd, c.bucket, c.overdue_amount,
         c.hardship, c.unreachable_on, c.last_contact_on
  FROM cases c
  WHERE c.status = 'open'{case_filter}
),
f AS (
  SELECT {chosen}
  FROM oc JOIN borrowers b ON b.id = oc.borrower_id{score_join}
)"""


def any_facts_sql(
    strategy: Strategy,
    sql: Sql,
    as_of: date,
    case_filter: str = "",
    fields: frozenset[str] | None = None,
) -> str:
    if sql.dialect in COLUMNAR:
        return facts_sql(strategy, sql, as_of, case_filter)
    return row_store_facts_sql(strategy, sql, as_of, case_filter, fields)


def segment_case(strategy: Strategy) -> str:
    whens = " ".join(f"WHEN {expression(s.when)} THEN {quote(s.name)}" for s in strategy.segments)
    return f"CASE {whens} ELSE NULL END"


def trigger_sql(step: Step, sql: Sql, as_of: date) -> str:
    t, d = step.trigger, sql.date(as_of)
    n = t.days[0] if t.days else 0
    if t.event is Event.DPD:
        return f"f.dpd IN ({', '.join(str(x) for x in t.days)})"
    if t.event is Event.DAILY:
        return "(1=1)"
    if t.event is Event.CASE_OPENED:
        return f"f.opened_on = {d}"
    if t.event is Event.BORROWER_UNREACHABLE:
        return f"f.unreachable_on = {d}"
    if t.event is Event.PROMISE_DUE:
        return (
            "EXISTS (SELECT 1 FROM promises p WHERE p.case_id = f.case_id AND p.status = 'open' "
            f"AND p.due_on = {sql.date(as_of + timedelta(days=n))})"
        )
    if t.event is Event.PROMISE_BROKEN:
        return (
            "EXISTS (SELECT 1 FROM promises p WHERE p.case_id = f.case_id "
            f"AND p.status = 'broken' AND p.settled_on = {d})"
        )
    if t.event is Event.PLAN_INSTALMENT_DUE:
        return (
            "EXISTS (SELECT 1 FROM plans p JOIN plan_instalments i ON i.plan_id = p.id "
            "WHERE p.case_id = f.case_id AND p.status = 'active' AND i.status = 'pending' "
            f"AND i.due_on = {sql.date(as_of + timedelta(days=n))})"
        )
    if t.event is Event.PLAN_INSTALMENT_MISSED:
        return (
            "EXISTS (SELECT 1 FROM plans p JOIN plan_instalments i ON i.plan_id = p.id "
            "WHERE p.case_id = f.case_id AND p.status = 'active' AND i.status <> 'paid' "
            f"AND i.due_on = {sql.date(as_of - timedelta(days=n))})"
        )
    raise AssertionError(t.event)


def step_selects(strategy: Strategy, sql: Sql, as_of: date, source: str = "sf") -> list[str]:
    selects: list[str] = []
    for step in strategy.steps:
        where = [trigger_sql(step, sql, as_of), expression(step.when), "f.segment IS NOT NULL"]
        if step.segments:
            where.append(f"f.segment IN ({', '.join(quote(s) for s in step.segments)})")
        if step.variants:
            where.append(f"f.variant IN ({', '.join(quote(v) for v in step.variants)})")
        for action in step.actions:
            cols = (
                f"{quote(step.name)} AS step, {{target}}, {quote(action.channel.value)} AS channel, "
                f"{quote(action.template)} AS template, {action.priority} AS priority, "
                f"{quote(action.queue) if action.queue else 'NULL'} AS queue"
            )
            if action.target is Addressees.BORROWER:
                target = "'borrower' AS target_type, f.borrower_id AS target_id"
                selects.append(
                    f"SELECT f.case_id, {cols.format(target=target)} FROM {source} f "
                    f"WHERE {' AND '.join(where)}"
                )
            else:
                target = "'contact' AS target_type, ct.id AS target_id"
                selects.append(
                    f"SELECT f.case_id, {cols.format(target=target)} FROM {source} f "
                    f"JOIN contacts ct ON ct.borrower_id = f.borrower_id "
                    f"AND ct.consent = {sql.true} AND ct.status = 'active' "
                    f"WHERE {' AND '.join(where)}"
                )
    return selects


def plan_query(strategy: Strategy, dialect: str, as_of: date, case_filter: str = "") -> str:
    """SELECT case_id, step, target_type, target_id, channel, template, priority, queue."""
    sql = Sql(dialect)
    return (
        f"WITH {any_facts_sql(strategy, sql, as_of, case_filter)},\n"
        f"sf AS (SELECT f.*, {segment_case(strategy)} AS segment FROM f)\n"
        f"{actions_from(strategy, dialect, as_of, 'sf')}"
    )


def actions_from(strategy: Strategy, dialect: str, as_of: date, source: str) -> str:
    """The actions of `plan_query` from a table (or CTE) of every open case's fields and
    segment (`segments_query`'s rows): the facts gathered once serve the actions and the
    queues."""
    selects = step_selects(strategy, Sql(dialect), as_of, source)
    if not selects:
        selects = [
            f"SELECT f.case_id, '' AS step, '' AS target_type, '' AS target_id, '' AS channel, '' AS template, 0 AS priority, NULL AS queue FROM {source} f WHERE 1=0"
        ]
    return "\nUNION ALL\n".join(selects)


def segments_query(
    strategy: Strategy,
    dialect: str,
    as_of: date,
    case_filter: str = "",
    fields: frozenset[str] | None = None,
) -> str:
    """SELECT case_id, segment, and every field (or those of `fields`, at least), one row per
    open case."""
    sql = Sql(dialect)
    return (
        f"WITH {any_facts_sql(strategy, sql, as_of, case_filter, fields)}\n"
        f"SELECT f.*, {segment_case(strategy)} AS segment FROM f"
    )
