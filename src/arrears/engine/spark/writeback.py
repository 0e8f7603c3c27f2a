"""Each shard's results written back in a transaction of its own, with the single-node run's
unique keys: a shard written twice (a re-run of the shard or of the day) adds nothing twice.

A shard's rows are read from its Parquet partition (DuckDB), staged in a temporary table and
applied by a few set-based statements, as the single-node steps do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, text

from arrears.domain.strategy.model import Strategy
from arrears.store.sql import Dialect, analyze_temporary, dated

Column = tuple[str, str]  # (name, SQL type)


def shard_rows(
    out: Path, shard: int, columns: Sequence[str], where: str = "TRUE"
) -> list[tuple[Any, ...]]:
    """The rows of one shard's partition of a Spark result (none when it wrote nothing)."""
    files = sorted((out / f"shard={shard}").glob("*.parquet"))
    if not files:
        return []
    listed = ", ".join(f"'{f}'" for f in files)
    with duckdb.connect() as duck:
        return duck.execute(
            f"SELECT {', '.join(columns)} FROM read_parquet([{listed}]) WHERE {where}"
        ).fetchall()


def staged_rows(
    conn: Connection, name: str, columns: Sequence[Column], rows: list[tuple[Any, ...]]
) -> str:
    """A temporary table of the rows (dropped first if a failed attempt left it); its name."""
    table = f"tmp_spark_{name}"
    conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    conn.execute(
        text(f"CREATE TEMPORARY TABLE {table} ({', '.join(f'{n} {k}' for n, k in columns)})")
    )
    if rows:
        names = [n for n, _ in columns]
        conn.execute(
            text(
                f"INSERT INTO {table} ({', '.join(names)}) "
                f"VALUES ({', '.join(':' + n for n in names)})"
            ),
            [dict(zip(names, r, strict=True)) for r in rows],
        )
    analyze_temporary(conn, table)
    return table


@dataclass(frozen=True)
class AssessWritten:
    assessed: int
    changed: int


_ACCOUNT: list[Column] = [
    ("id", "VARCHAR(64) PRIMARY KEY"),
    ("kind", "VARCHAR(16)"),
    ("dpd", "INTEGER"),
    ("bucket", "VARCHAR(8)"),
    ("overdue", "BIGINT"),
    ("outstanding", "BIGINT"),
    ("status", "VARCHAR(16)"),
]


def write_assessment(conn: Connection, out: Path, shard: int, as_of: date) -> AssessWritten:
    """The shard's changed account figures, and the history row of each account past due."""
    d = Dialect.of(conn).date_param("d")
    names = [n for n, _ in _ACCOUNT]
    assessed = (
        shard_rows(out, shard, ["COUNT(*)"], "kind = 'assessed'")[0][0] if _any(out, shard) else 0
    )
    table = staged_rows(conn, "accounts", _ACCOUNT, shard_rows(out, shard, names, "changed"))
    changed = conn.execute(
        dated(
            f"""UPDATE accounts SET dpd = n.dpd, bucket = n.bucket, overdue_amount = n.overdue,
                       outstanding = n.outstanding, status = n.status, state_as_of = {d}
                FROM {table} n WHERE accounts.id = n.id AND n.kind = 'assessed'""",
            "d",
        ),
        {"d": as_of},
    ).rowcount
    conn.execute(
        text(
            f"""UPDATE accounts SET dpd = n.dpd, bucket = n.bucket
                FROM {table} n WHERE accounts.id = n.id AND n.kind = 'reaged'"""
        )
    )
    past_due = staged_rows(
        conn,
        "history",
        _ACCOUNT[:1] + _ACCOUNT[2:5],
        shard_rows(out, shard, ["id", "dpd", "bucket", "overdue"], "history"),
    )
    conn.execute(
        dated(
            f"""INSERT INTO delinquency_history (account_id, as_of, dpd, bucket, overdue_amount)
                SELECT id, {d}, dpd, bucket, overdue FROM {past_due} WHERE 1 = 1
                ON CONFLICT DO NOTHING""",
            "d",
        ),
        {"d": as_of},
    )
    return AssessWritten(assessed=int(assessed), changed=changed or 0)


def _any(out: Path, shard: int) -> bool:
    return any((out / f"shard={shard}").glob("*.parquet"))


_CASE: list[Column] = [
    ("borrower_id", "VARCHAR(64) PRIMARY KEY"),
    ("dpd", "INTEGER"),
    ("bucket", "VARCHAR(8)"),
    ("overdue", "BIGINT"),
    ("open_case", "INTEGER"),
    ("open_currency", "VARCHAR(3)"),
    ("open_overdue", "BIGINT"),
    ("open_dpd", "INTEGER"),
    ("open_bucket", "VARCHAR(8)"),
    ("close", "VARCHAR(16)"),
    ("unreachable", "INTEGER"),
]


def write_cases(conn: Connection, out: Path, shard: int, as_of: date) -> tuple[int, int]:
    """Open, refresh, close and mark unreachable the shard's cases; (opened, closed)."""
    d = Dialect.of(conn).date_param("d")
    names = [n for n, _ in _CASE]
    picked = [f"CAST({n} AS INTEGER)" if n in ("open_case", "unreachable") else n for n in names]
    n = staged_rows(conn, "cases", _CASE, shard_rows(out, shard, picked))
    by_borrower = f"FROM {n} n WHERE cases.borrower_id = n.borrower_id AND cases.status = 'open'"
    params = {"d": as_of}
    opened = conn.execute(
        dated(
            f"""INSERT INTO cases (borrower_id, opened_on, status, currency, overdue_at_open,
                                   dpd, bucket, overdue_amount, strategy, variant, queue)
                SELECT n.borrower_id, {d}, 'open', n.open_currency, n.open_overdue, n.open_dpd,
                       n.open_bucket, n.open_overdue, 'seed', 'champion', 'early'
                FROM {n} n WHERE n.open_case = 1 ORDER BY n.borrower_id
                ON CONFLICT DO NOTHING""",
            "d",
        ),
        params,
    ).rowcount
    conn.execute(
        text(
            f"""UPDATE cases SET dpd = n.dpd, bucket = n.bucket, overdue_amount = n.overdue
                {by_borrower} AND (cases.dpd <> n.dpd OR cases.overdue_amount <> n.overdue)"""
        )
    )
    closed = conn.execute(
        dated(
            f"UPDATE cases SET status = n.close, closed_on = {d} {by_borrower} "
            "AND n.close IS NOT NULL",
            "d",
        ),
        params,
    ).rowcount
    conn.execute(
        dated(
            f"""UPDATE cases SET unreachable_on = {d} {by_borrower} AND n.unreachable = 1
                AND (cases.unreachable_on IS NULL OR cases.unreachable_on < {d})""",
            "d",
        ),
        params,
    )
    return opened or 0, closed or 0


_ASSIGNMENT: list[Column] = [
    ("case_id", "BIGINT PRIMARY KEY"),
    ("bucket", "INTEGER"),
    ("variant", "VARCHAR(32)"),
    ("fresh", "INTEGER"),
]
_ACTION: list[Column] = [
    ("case_id", "BIGINT"),
    ("step", "VARCHAR(64)"),
    ("target_type", "VARCHAR(16)"),
    ("target_id", "VARCHAR(64)"),
    ("channel", "VARCHAR(16)"),
    ("template", "VARCHAR(64)"),
    ("priority", "INTEGER"),
]
_QUEUE: list[Column] = [("case_id", "BIGINT PRIMARY KEY"), ("queue", "VARCHAR(32)")]


def write_strategy(
    conn: Connection, results: Path, shard: int, strategy: Strategy, as_of: date
) -> int:
    """The shard's new variant assignments (and the cases mirroring them), its actions
    (status planned) and its cases' queues; returns how many actions are new."""
    d = Dialect.of(conn).date_param("d")
    params = {"d": as_of, "name": strategy.name, "salt": strategy.salt}
    rows = shard_rows(
        results / "assignments", shard, ["case_id", "bucket", "variant", "CAST(fresh AS INTEGER)"]
    )
    s = staged_rows(conn, "assignments", _ASSIGNMENT, rows)
    conn.execute(
        dated(
            f"""INSERT INTO strategy_assignments (case_id, strategy, salt, bucket, variant,
                                                  assigned_on)
                SELECT s.case_id, :name, :salt, s.bucket, s.variant, {d}
                FROM {s} s WHERE s.fresh = 1 ORDER BY s.case_id
                ON CONFLICT DO NOTHING""",
            "d",
        ),
        params,
    )
    conn.execute(
        text(
            f"""UPDATE cases SET strategy = :name, variant = s.variant
                FROM {s} s WHERE s.case_id = cases.id AND cases.status = 'open'
                  AND (cases.strategy <> :name OR cases.variant <> s.variant)"""
        ),
        params,
    )
    names = [n for n, _ in _ACTION]
    q = staged_rows(conn, "actions", _ACTION, shard_rows(results / "actions", shard, names))
    planned = conn.execute(
        dated(
            f"""INSERT INTO actions (case_id, business_date, step, target_type, target_id,
                                     channel, template, status, priority)
                SELECT q.case_id, {d}, q.step, q.target_type, q.target_id, q.channel,
                       q.template, 'planned', q.priority
                FROM {q} q WHERE 1 = 1
                ON CONFLICT DO NOTHING""",
            "d",
        ),
        params,
    ).rowcount
    queues = staged_rows(
        conn, "queues", _QUEUE, shard_rows(results / "queues", shard, ["case_id", "queue"])
    )
    conn.execute(
        text(
            f"""UPDATE cases SET queue = s.queue FROM {queues} s
                WHERE cases.id = s.case_id AND cases.queue <> s.queue"""
        )
    )
    return planned or 0
