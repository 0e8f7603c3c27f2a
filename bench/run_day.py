"""End to end: `run_day` on PostgreSQL and SQLite over N accounts (3% delinquent).

    python bench/run_day.py --accounts 1000000

Generates the portfolio (DuckDB, vectorised), bulk-loads it (COPY into PostgreSQL, batched
inserts into SQLite; each account's outstanding comes with it, so the trigger that adds it up
from the inserted items is off for the load), then times `arrears run-day` for two consecutive
dates — day 1 opens every delinquent case at once, day 2 is a steady day — with the time of each
step of the pipeline (the run report's `step_seconds`). One delinquent borrower in ten is in a
breathing space. Targets for 1,000,000 accounts: PostgreSQL <= 60 s, SQLite <= 120 s.
Ends with one line `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
from installed import compile_product
from sqlalchemy import Engine, text

from arrears.store import migrate, unassessed
from arrears.store.db import make_engine, normalise_url

AS_OF = date(2025, 6, 30)

TABLES: dict[str, str] = {
    "borrowers": """SELECT id::VARCHAR AS id, 'Asia/Shanghai' AS timezone,
        (CASE WHEN id % 7 = 0 THEN 'en' ELSE 'zh-CN' END) AS language,
        (['north', 'south', 'east', 'west'])[1 + (id % 4)] AS region,
        (300 + (id * 7) % 600)::INTEGER AS risk_score,
        (CASE WHEN id % 97 = 0 THEN 'wrong' ELSE 'ok' END) AS phone_status
        FROM acct WHERE id = borrower_id""",
    "contacts": """SELECT (b.id * 2 + c.n)::VARCHAR AS id, b.id::VARCHAR AS borrower_id,
        'sibling' AS relationship, ((b.id + c.n) % 5 <> 0) AS consent, 'active' AS status
        FROM acct b CROSS JOIN range(2) c(n)
        WHERE b.id = b.borrower_id AND (c.n = 0 OR b.id % 2 = 0)""",
    # each account's outstanding and status come with it, as a lender's extract brings them
    # (the load turns off the trigger that would add them up from the items, see `ITEM_TRIGGER`)
    "accounts": """SELECT a.id::VARCHAR AS id, a.borrower_id::VARCHAR AS borrower_id,
        (['loan', 'card', 'bnpl'])[1 + (a.id % 3)] AS product, 'CNY' AS currency,
        960000 AS principal, 120000 AS annual_rate_ppm, 60000 AS penalty_rate_ppm,
        (a.first_due - 30) AS opened_on, o.owed AS outstanding,
        (CASE WHEN o.owed <= 0 THEN 'paid_off' ELSE 'active' END) AS status
        FROM acct a JOIN owed o ON o.id = a.id""",
    # a loan's schedule is written together, so each account's items lie together (unordered,
    # DuckDB interleaved them: an account's twelve items on twelve pages of the table)
    "due_items": """SELECT s.id::VARCHAR AS account_id, (q.seq + 1)::INTEGER AS seq,
        (s.first_due + (30 * q.seq)::INTEGER) AS due_on, 80000 AS principal, 9600 AS interest,
        (CASE WHEN s.first_due + (30 * q.seq)::INTEGER >= DATE '{as_of}' THEN 0
              WHEN s.late AND q.seq >= ((DATE '{as_of}' - s.first_due) + 29) // 30 - 1 - s.k
                   THEN 0 ELSE 80000 END) AS paid_principal,
        (CASE WHEN s.first_due + (30 * q.seq)::INTEGER >= DATE '{as_of}' THEN 0
              WHEN s.late AND q.seq >= ((DATE '{as_of}' - s.first_due) + 29) // 30 - 1 - s.k
                   THEN 0 ELSE 9600 END) AS paid_interest
        FROM acct s CROSS JOIN range(12) q(seq) ORDER BY s.id, q.seq""",
    "borrower_flags": """SELECT borrower_id::VARCHAR AS borrower_id,
        'breathing_space' AS flag, DATE '{as_of}' - 20 AS since, DATE '{as_of}' + 39 AS until,
        'bench' AS set_by, TIMESTAMPTZ '{as_of} 00:00:00+00' AS set_at
        FROM acct WHERE late AND id = borrower_id AND id % 10 = 0""",
    "payments": """SELECT 'P' || id AS id, id::VARCHAR AS account_id, 89600 AS amount,
        'CNY' AS currency, DATE '{as_of}' AS received_on, 'host' AS source
        FROM acct WHERE id % 100 = 3""",
}


# what an inserted item owes, added to its account (store/unassessed.py): the figures come with
# the accounts here, so the load turns it off and on again
ITEM_TRIGGER = unassessed.ITEM_TRIGGER

# the tables a first night rewrites or fills, vacuumed before the steady day
NIGHT_TABLES = ("accounts", "due_items", "payments", "cases", "actions", "outbox")


def generate(n: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads=2")
    con.execute(
        f"""CREATE TABLE acct AS
        SELECT id, (CASE WHEN id % 10 = 1 THEN id - 1 ELSE id END) AS borrower_id,
               (DATE '{AS_OF}' - 15 - ((h >> 4) % 330)::INTEGER) AS first_due,
               ((h >> 20) % 100 < 3) AS late, ((h >> 28) % 3)::INTEGER AS k
        FROM (SELECT range AS id, hash(range) AS h FROM range({n}))"""
    )
    items = TABLES["due_items"].format(as_of=AS_OF.isoformat())
    con.execute(
        f"""CREATE TABLE owed AS
        SELECT account_id::BIGINT AS id,
               SUM(principal + interest - paid_principal - paid_interest) AS owed
        FROM ({items}) GROUP BY account_id"""
    )
    return con


def export(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, tuple[Path, list[str]]]:
    out = {}
    for name, query in TABLES.items():
        q = query.format(as_of=AS_OF.isoformat())
        cols = [d[0] for d in con.execute(f"SELECT * FROM ({q}) LIMIT 0").description]
        path = folder / f"{name}.csv"
        con.execute(f"COPY ({q}) TO '{path}' (HEADER false, DELIMITER ',')")
        out[name] = (path, cols)
    return out


_KEYS_AND_INDEXES = """
    SELECT 'key', c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
    FROM pg_constraint c
    WHERE c.contype = 'f' AND (c.conrelid::regclass::text = ANY(%(t)s)
                               OR c.confrelid::regclass::text = ANY(%(t)s))
    UNION ALL
    SELECT 'index', i.tablename, i.indexname, i.indexdef FROM pg_indexes i
    WHERE i.schemaname = current_schema() AND i.tablename = ANY(%(t)s)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                      WHERE k.conname = i.indexname AND k.contype IN ('p', 'u'))
"""


def load_postgres(engine: Engine, files: dict[str, tuple[Path, list[str]]]) -> None:
    """COPY into the bare tables, then build their indexes and foreign keys again, as a
    lender's migration would: a copy into indexed, keyed tables of 120,000,000 items takes
    hours on a small machine. The schema afterwards is the migrated one (keys validated)."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(_KEYS_AND_INDEXES, {"t": list(files)})
        dropped = cur.fetchall()
        for kind, table, name, _ in dropped:
            if kind == "key":
                cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for kind, _, name, _ in dropped:
            if kind == "index":
                cur.execute(f'DROP INDEX "{name}"')
        raw.commit()
        cur.execute(f"ALTER TABLE due_items DISABLE TRIGGER {ITEM_TRIGGER}")
        for name, (path, cols) in files.items():
            copy = f"COPY {name} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)"
            with cur.copy(copy) as cp, path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    cp.write(block)
        cur.execute(f"ALTER TABLE due_items ENABLE TRIGGER {ITEM_TRIGGER}")
        raw.commit()
        t = time.perf_counter()
        for kind, _table, _name, definition in dropped:
            if kind == "index":
                cur.execute(definition)
        for kind, table, name, definition in dropped:
            if kind == "key":
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        raw.commit()
        print(f"[postgresql] indexes and keys rebuilt in {time.perf_counter() - t:.1f} s")
    finally:
        raw.close()
    vacuum(engine, files)


def vacuum(engine: Engine, tables: Iterable[str]) -> float:
    """VACUUM (ANALYZE) the tables, as autovacuum would between two nights (this server runs
    with it off; a steady day that reads a first day's dead row versions measures the server's
    setting, not the run); returns the seconds it took, printed beside the days."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        t = time.perf_counter()
        for table in tables:
            conn.execute(text(f"VACUUM (ANALYZE) {table}"))
        return time.perf_counter() - t


def load_sqlite(engine: Engine, con: duckdb.DuckDBPyConnection) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"DROP TRIGGER {ITEM_TRIGGER}")
        for name, query in TABLES.items():
            q = query.format(as_of=AS_OF.isoformat())
            res = con.execute(f"SELECT * FROM ({q})")
            cols = [d[0] for d in res.description]
            marks = ", ".join("?" for _ in cols)
            sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks})"
            while batch := res.fetchmany(200_000):
                cur.executemany(
                    sql,
                    [tuple(v.isoformat() if isinstance(v, date) else v for v in r) for r in batch],
                )
        (trigger,) = [s for s in unassessed.SQLITE if ITEM_TRIGGER in s]
        cur.execute(trigger)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def timed_run(engine: Engine, as_of: date) -> tuple[float, dict[str, float], dict[str, Any]]:
    """`arrears run-day --as-of` as a user runs it (a process of its own): seconds, the report's
    step seconds and fields, and the process's peak resident memory (`peak_rss_mb`)."""
    url = engine.url.render_as_string(hide_password=False)
    env = dict(os.environ, ARREARS_DATABASE_URL=url)
    cli = Path(sys.executable).parent / "arrears"
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(
            [str(cli), "run-day", "--as-of", as_of.isoformat()], stdout=out, stderr=err, env=env
        )
        proc.wait()
        total = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"arrears run-day failed:\n{errors[-3000:]}")
    fields: dict[str, Any] = {}
    for line in output.splitlines():
        m = re.match(r"\s*(\w+): (.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2)
    steps = ast.literal_eval(fields.get("step_seconds", "{}"))
    # the command's own peak: the ru_maxrss of a forked child keeps this bench's (the book)
    fields["peak_rss_mb"] = float(fields["peak_memory_mb"])
    return total, dict(steps), fields


def bench(label: str, engine: Engine, load: Callable[[], None], target: float) -> dict[str, float]:
    migrate.upgrade(engine)
    t = time.perf_counter()
    load()
    print(f"[{label}] loaded in {time.perf_counter() - t:.1f} s")
    results: dict[str, float] = {}
    for day, as_of in (("day1", AS_OF), ("day2", AS_OF + timedelta(days=1))):
        if day == "day2" and engine.dialect.name == "postgresql":
            seconds = vacuum(engine, NIGHT_TABLES)
            print(f"[{label}] vacuumed the first night's tables in {seconds:.1f} s")
            results[f"{label}_vacuum_s"] = seconds
        total, spent, report = timed_run(engine, as_of)
        slow = max(spent, key=lambda k: spent[k])
        steps = ", ".join(f"{k} {v:.1f}" for k, v in spent.items())
        verdict = "ok" if total <= target else f"MISSES the {target:.0f} s target"
        print(f"[{label}] {day} {as_of}: {total:.1f} s ({verdict}); slowest {slow}; {steps}")
        print(
            f"[{label}]   assessed {report['accounts_assessed']} (changed "
            f"{report['accounts_changed']}), penalty items {report['penalty_items']}, cases "
            f"opened {report['cases_opened']}, actions {report['actions_planned']}, messages "
            f"{report['messages_enqueued']}, payments {report['payments_posted']}, peak "
            f"memory {report['peak_rss_mb']:.0f} MB"
        )
        results[f"{label}_{day}_s"] = total
        results[f"{label}_{day}_slowest"] = slow  # type: ignore[assignment]
        results["peak_rss_mb"] = max(results.get("peak_rss_mb", 0.0), report["peak_rss_mb"])
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--accounts", type=int, default=1_000_000)
    p.add_argument("--backends", default="postgresql,sqlite")
    p.add_argument(
        "--pg-url",
        default=os.environ.get(
            "ARREARS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = p.parse_args(argv)
    compile_product()
    n = args.accounts
    t = time.perf_counter()
    con = generate(n)
    (late,) = con.execute("SELECT COUNT(*) FROM acct WHERE late").fetchall()[0]
    print(
        f"portfolio: {n:,} accounts x 12 due items, {late:,} delinquent; "
        f"generated in {time.perf_counter() - t:.1f} s"
    )
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "postgresql" in args.backends:
            files = export(con, folder)
            schema = "bench_" + uuid.uuid4().hex[:8]
            admin = make_engine(args.pg_url)
            with admin.begin() as c:
                c.execute(text(f"CREATE SCHEMA {schema}"))
            sep = "&" if "?" in args.pg_url else "?"
            engine = make_engine(
                normalise_url(args.pg_url) + f"{sep}options=-csearch_path%3D{schema}"
            )
            try:
                results |= bench("postgresql", engine, lambda: load_postgres(engine, files), 60)
            finally:
                engine.dispose()
                with admin.begin() as c:
                    c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
        if "sqlite" in args.backends:
            engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
            try:
                results |= bench("sqlite", engine, lambda: load_sqlite(engine, con), 120)
            finally:
                engine.dispose()
    print("RESULT accounts=" + str(n) + " " + " ".join(
        f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in results.items()
    ))  # fmt: skip
    ok = all(
        v <= (60 if k.startswith("postgresql") else 120)
        for k, v in results.items()
        if isinstance(v, float) and k != "peak_rss_mb" and not k.endswith("_vacuum_s")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
