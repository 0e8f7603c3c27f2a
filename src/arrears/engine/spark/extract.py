# ruff: noqa: E501  (SQL reads better unbroken)
"""The day's inputs as Parquet, partitioned by borrower shard (`<table>/shard=<k>/*.parquet`).

Rows are read from the database in batches and written by DuckDB; the shard of a row is that
of its borrower (`shard_sql`). One schema per table serves the extract and Spark's reader.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
from sqlalchemy import Connection, text

BATCH = 100_000


def shard_of(borrower_id: str, shards: int) -> int:
    """The borrower's shard: the first 32 bits of the MD5 of its id, modulo the shard count
    (`shard_sql` is the same in SQL)."""
    return int(hashlib.md5(borrower_id.encode()).hexdigest()[:8], 16) % shards


def shard_sql(column: str, shards: int) -> str:
    return f"(CAST(('0x' || substr(md5({column}), 1, 8)) AS BIGINT) % {shards})"


_DUCK = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "date": "DATE"}
_DUCK["boolean"] = "BOOLEAN"


@dataclass(frozen=True)
class Source:
    """A table as extracted: a SELECT whose columns are `columns` then the borrower id."""

    name: str
    select: str
    columns: tuple[tuple[str, str], ...]  # (name, Spark type)

    def spark_schema(self) -> str:
        return ", ".join(f"{n} {kind}" for n, kind in (*self.columns, ("shard", "int")))


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    pairs = (item.split() for item in spec.split(","))
    return tuple((name, kind) for name, kind in pairs)


_ITEM_PARTS = "principal interest fee penalty paid_principal paid_interest paid_fee paid_penalty"
SOURCES = {
    s.name: s
    for s in (
        Source(
            "accounts",
            """SELECT a.id, a.borrower_id, a.product, a.currency, a.status, a.dpd, a.bucket,
                      a.overdue_amount, a.outstanding, a.state_as_of, a.borrower_id FROM accounts a""",
            _cols(
                "id string, borrower_id string, product string, currency string, status string,"
                "dpd int, bucket string, overdue_amount bigint, outstanding bigint,"
                "state_as_of date"
            ),
        ),
        Source(
            "due_items",
            f"""SELECT i.account_id, i.seq, i.due_on, {", ".join("i." + p for p in _ITEM_PARTS.split())},
                       a.borrower_id
                FROM due_items i JOIN accounts a ON a.id = i.account_id""",
            _cols(
                "account_id string, seq int, due_on date,"
                + ",".join(f"{p} bigint" for p in _ITEM_PARTS.split())
            ),
        ),
        Source(
            "quarantined_accounts",
            """SELECT q.account_id, a.borrower_id FROM quarantined_accounts q
               JOIN accounts a ON a.id = q.account_id""",
            _cols("account_id string"),
        ),
        Source(
            "borrowers",
            """SELECT b.id, b.language, b.region, b.risk_score, b.phone_status, b.id
               FROM borrowers b""",
            _cols("id string, language string, region string, risk_score int, phone_status string"),
        ),
        Source(
            "contacts",
            """SELECT ct.id, ct.borrower_id, ct.consent, ct.status, ct.borrower_id
               FROM contacts ct""",
            _cols("id string, borrower_id string, consent boolean, status string"),
        ),
        Source(
            "cases",
            """SELECT c.id, c.borrower_id, c.opened_on, c.closed_on, c.status, c.currency,
                      c.dpd, c.bucket, c.overdue_amount, c.hardship, c.unreachable_on,
                      c.last_contact_on, c.strategy, c.variant, c.queue, c.borrower_id
               FROM cases c""",
            _cols(
                "id bigint, borrower_id string, opened_on date, closed_on date, status string,"
                "currency string, dpd int, bucket string, overdue_amount bigint, hardship string,"
                "unreachable_on date, last_contact_on date, strategy string, variant string,"
                "queue string"
            ),
        ),
        Source(
            "promises",
            """SELECT p.id, p.case_id, p.made_on, p.due_on, p.status, p.settled_on, c.borrower_id
               FROM promises p JOIN cases c ON c.id = p.case_id""",
            _cols(
                "id bigint, case_id bigint, made_on date, due_on date, status string,"
                "settled_on date"
            ),
        ),
        Source(
            "plans",
            """SELECT p.id, p.case_id, p.status, p.proposed_on, c.borrower_id
               FROM plans p JOIN cases c ON c.id = p.case_id""",
            _cols("id bigint, case_id bigint, status string, proposed_on date"),
        ),
        Source(
            "plan_instalments",
            """SELECT i.plan_id, i.seq, i.due_on, i.status, c.borrower_id
               FROM plan_instalments i JOIN plans p ON p.id = i.plan_id
               JOIN cases c ON c.id = p.case_id""",
            _cols("plan_id bigint, seq int, due_on date, status string"),
        ),
        Source(
            "strategy_assignments",
            """SELECT s.case_id, s.strategy, s.variant, c.borrower_id
               FROM strategy_assignments s JOIN cases c ON c.id = s.case_id""",
            _cols("case_id bigint, strategy string, variant string"),
        ),
    )
}

# what each of the Spark steps reads
ASSESS = ("accounts", "due_items", "quarantined_accounts", "cases", "plans", "plan_instalments")
CASES = ("accounts", "borrowers", "cases", "plans")
STRATEGY = (
    "accounts",
    "borrowers",
    "contacts",
    "cases",
    "promises",
    "plans",
    "plan_instalments",
    "strategy_assignments",
)


def extract(conn: Connection, folder: Path, shards: int, tables: Iterable[str]) -> dict[str, int]:
    """Write each table's rows under folder/<table>/shard=<k>/; returns the rows per table.
    A table extracted before is replaced (a re-run reads the database as it is now)."""
    counts: dict[str, int] = {}
    duck = duckdb.connect()
    try:
        duck.execute("SET threads = 2")
        for name in tables:
            counts[name] = _extract(conn, duck, SOURCES[name], folder / name, shards)
    finally:
        duck.close()
    return counts


def _extract(
    conn: Connection, duck: duckdb.DuckDBPyConnection, source: Source, out: Path, shards: int
) -> int:
    names = [n for n, _ in source.columns]
    typed = ", ".join(f"{n} {_DUCK[kind]}" for n, kind in source.columns)
    duck.execute(f"CREATE OR REPLACE TABLE x ({typed}, shard INTEGER)")
    casts = ", ".join(f"CAST({n} AS {_DUCK[kind]})" for n, kind in source.columns)
    rows = 0
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
        text(source.select)
    )
    for batch in result.partitions(BATCH):
        frame = _frame([*names, "owner"], batch)
        duck.register("batch", frame)
        duck.execute(f"INSERT INTO x SELECT {casts}, {shard_sql('owner', shards)} FROM batch")
        duck.unregister("batch")
        rows += len(batch)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if rows:
        duck.execute(f"COPY x TO '{out}' (FORMAT PARQUET, PARTITION_BY (shard))")
    return rows


def _frame(names: Sequence[str], rows: Sequence[Sequence[object]]) -> dict[str, np.ndarray]:
    """Columns as object arrays (DuckDB scans a dict of NumPy arrays)."""
    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        column = np.empty(len(rows), dtype=object)
        column[:] = [r[i] for r in rows]
        columns[name] = column
    return columns
