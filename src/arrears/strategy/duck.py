"""The strategy engine on DuckDB: the tables it reads, in columnar form, and the compiled plan.

The nightly run for the largest portfolios works on an extract in DuckDB (see docs/scaling.md):
the same compiled query as on SQLite and PostgreSQL, over frames instead of row stores.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from arrears.domain.strategy.evaluate import PlannedAction
from arrears.domain.strategy.model import Strategy
from arrears.strategy.compile import bucket_sql, plan_query, quote, variant_sql

DDL = """
CREATE TABLE IF NOT EXISTS borrowers (
  id VARCHAR PRIMARY KEY, language VARCHAR NOT NULL DEFAULT 'zh-CN', region VARCHAR,
  risk_score INTEGER, phone_status VARCHAR NOT NULL DEFAULT 'ok');
CREATE TABLE IF NOT EXISTS accounts (
  id VARCHAR, borrower_id VARCHAR NOT NULL, product VARCHAR NOT NULL, currency VARCHAR NOT NULL,
  dpd INTEGER NOT NULL DEFAULT 0, bucket VARCHAR NOT NULL DEFAULT 'M0',
  overdue_amount BIGINT NOT NULL DEFAULT 0, outstanding BIGINT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS contacts (
  id VARCHAR, borrower_id VARCHAR NOT NULL, consent BOOLEAN NOT NULL, status VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS cases (
  id INTEGER, borrower_id VARCHAR NOT NULL, opened_on DATE NOT NULL, closed_on DATE,
  status VARCHAR NOT NULL, currency VARCHAR NOT NULL, overdue_at_open BIGINT DEFAULT 0,
  dpd INTEGER NOT NULL, bucket VARCHAR NOT NULL, overdue_amount BIGINT NOT NULL,
  strategy VARCHAR DEFAULT 'seed', variant VARCHAR DEFAULT 'champion', hardship VARCHAR,
  unreachable_on DATE, last_contact_on DATE, queue VARCHAR DEFAULT 'early');
CREATE TABLE IF NOT EXISTS promises (
  id INTEGER, case_id INTEGER NOT NULL, made_on DATE NOT NULL, due_on DATE NOT NULL,
  amount BIGINT DEFAULT 0, status VARCHAR NOT NULL, settled_on DATE);
CREATE TABLE IF NOT EXISTS plans (
  id INTEGER, case_id INTEGER NOT NULL, status VARCHAR NOT NULL, proposed_on DATE NOT NULL,
  grace_days INTEGER DEFAULT 3);
CREATE TABLE IF NOT EXISTS plan_instalments (
  plan_id INTEGER NOT NULL, seq INTEGER NOT NULL, due_on DATE NOT NULL, status VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS strategy_assignments (
  case_id INTEGER NOT NULL, strategy VARCHAR NOT NULL, salt VARCHAR NOT NULL,
  bucket INTEGER NOT NULL, variant VARCHAR NOT NULL, assigned_on DATE NOT NULL);
CREATE TABLE IF NOT EXISTS lab_scores (
  case_id INTEGER NOT NULL, as_of DATE NOT NULL, p_pay_30 DOUBLE NOT NULL,
  p_self_cure DOUBLE NOT NULL);
"""


def create_schema(con: Any) -> None:
    con.execute(DDL)


def assign_variants(con: Any, strategy: Strategy, as_of: date) -> int:
    name = quote(strategy.name)
    before = con.execute(
        f"SELECT COUNT(*) FROM strategy_assignments WHERE strategy = {name}"
    ).fetchone()[0]
    con.execute(
        f"""INSERT INTO strategy_assignments
            SELECT c.id, {name}, {quote(strategy.salt)}, {bucket_sql(strategy, "c.id")},
                   {variant_sql(strategy, "c.id")}, DATE '{as_of.isoformat()}'
            FROM cases c
            WHERE c.status = 'open'
              AND c.id NOT IN (SELECT case_id FROM strategy_assignments WHERE strategy = {name})"""
    )
    after = con.execute(
        f"SELECT COUNT(*) FROM strategy_assignments WHERE strategy = {name}"
    ).fetchone()[0]
    return int(after - before)


def plan(con: Any, strategy: Strategy, as_of: date, into: str | None = None) -> int:
    """Run the compiled strategy; rows go to table `into` (created), returns their number."""
    query = plan_query(strategy, "duckdb", as_of)
    if into is None:
        return int(con.execute(f"SELECT COUNT(*) FROM ({query}) q").fetchone()[0])
    con.execute(f"CREATE OR REPLACE TABLE {into} AS {query}")
    return int(con.execute(f"SELECT COUNT(*) FROM {into}").fetchone()[0])


def preview(con: Any, strategy: Strategy, as_of: date) -> list[PlannedAction]:
    query = plan_query(strategy, "duckdb", as_of)
    rows = con.execute(
        "SELECT case_id, step, target_type, target_id, channel, template, priority "
        f"FROM ({query}) q"
    ).fetchall()
    actions = [PlannedAction(int(r[0]), r[1], r[2], str(r[3]), r[4], r[5], int(r[6])) for r in rows]
    return sorted(actions, key=PlannedAction.key)
