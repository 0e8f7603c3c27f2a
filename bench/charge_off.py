"""The charge-off step over N accounts, against a per-account loop, on PostgreSQL and SQLite.

    python bench/charge_off.py --accounts 200000

One account in twenty reaches DPD 180 on the date (the rest are current or younger arrears);
the borrowers of those in arrears have open cases. Times `arrears.engine.charge_off.charge_off`
(set-based: one statement per kind of row for the whole book) and, in the same run on the same
book, the baseline it replaces: select the accounts to charge off, then per account insert its
write-off, update the account and its case (what an ORM loop does). Each is timed in its own
transaction, rolled back, so both see the same book. Ends with one line `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from arrears.engine.charge_off import charge_off
from arrears.engine.config import RunConfig
from arrears.store import migrate
from arrears.store.db import make_engine, normalise_url

AS_OF = date(2026, 6, 30)
PG_URL = os.environ.get("ARREARS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _series(conn: Connection, n: int) -> str:
    if conn.dialect.name == "sqlite":
        return f"""(WITH RECURSIVE s(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM s
                    WHERE id < {n}) SELECT id FROM s)"""
    return f"(SELECT generate_series(1, {n}) AS id)"


def load(engine: Engine, n: int) -> int:
    with engine.begin() as conn:
        s = _series(conn, n)
        conn.execute(text(f"INSERT INTO borrowers (id) SELECT 'B' || id FROM {s} AS g"))
        dpd = "CASE WHEN id % 20 = 0 THEN 180 WHEN id % 20 = 1 THEN 90 ELSE 0 END"
        conn.execute(
            text(
                f"""INSERT INTO accounts (id, borrower_id, product, currency, principal,
                        opened_on, status, dpd, bucket, overdue_amount, outstanding, state_as_of)
                    SELECT 'A' || id, 'B' || id, 'instalment_loan', 'CNY', 960000,
                           '2025-01-01', 'active', {dpd},
                           CASE WHEN {dpd} > 0 THEN 'M6' ELSE 'M0' END,
                           CASE WHEN {dpd} > 0 THEN 320000 ELSE 0 END, 640000, '2026-06-29'
                    FROM {s} AS g"""
            )
        )
        conn.execute(
            text(
                f"""INSERT INTO cases (borrower_id, opened_on, status, currency, dpd, bucket)
                    SELECT 'B' || id, '2026-01-01', 'open', 'CNY', {dpd}, 'M6'
                    FROM {s} AS g WHERE {dpd} > 0"""
            )
        )
        if conn.dialect.name == "postgresql":
            for table in ("accounts", "cases", "borrowers"):
                conn.execute(text(f"ANALYZE {table}"))
        return int(
            conn.execute(text("SELECT COUNT(*) FROM accounts WHERE dpd >= 180")).scalar_one()
        )


def per_account_loop(conn: Connection) -> int:
    """The baseline: each account charged off by its own statements."""
    rows = conn.execute(
        text(
            """SELECT id, borrower_id, currency, outstanding, dpd FROM accounts
               WHERE dpd >= 180 AND status = 'active'"""
        )
    ).all()
    for r in rows:
        conn.execute(
            text(
                """INSERT INTO write_offs (account_id, reason, business_date, currency, amount,
                                           dpd)
                   VALUES (:a, 'charge_off', :d, :c, :o, :p)"""
            ),
            {"a": r.id, "d": AS_OF, "c": r.currency, "o": r.outstanding, "p": r.dpd},
        )
        conn.execute(text("UPDATE accounts SET status = 'charged_off' WHERE id = :a"), {"a": r.id})
        conn.execute(
            text(
                """UPDATE cases SET status = 'charged_off'
                   WHERE borrower_id = :b AND status = 'open'"""
            ),
            {"b": r.borrower_id},
        )
    return len(rows)


def timed(engine: Engine, fn: Callable[[Connection], int]) -> tuple[float, int]:
    with engine.connect() as conn:
        tx = conn.begin()
        started = time.perf_counter()
        done = fn(conn)
        seconds = time.perf_counter() - started
        tx.rollback()
    return seconds, done


@contextmanager
def databases(which: list[str]) -> Iterator[list[tuple[str, Engine]]]:
    engines: list[tuple[str, Engine]] = []
    schema = "bench_" + uuid.uuid4().hex[:10]
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" in which:
            engines.append(("sqlite", make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")))
        if "postgresql" in which:
            admin = make_engine(PG_URL)
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            pg = make_engine(
                normalise_url(PG_URL), connect_args={"options": f"-csearch_path={schema}"}
            )
            engines.append(("postgresql", pg))
        try:
            yield engines
        finally:
            for _, engine in engines:
                engine.dispose()
            if "postgresql" in which:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(argv)
    which = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: dict[str, str] = {"accounts": str(args.accounts)}
    config = RunConfig()
    with databases(which) as engines:
        for name, engine in engines:
            migrate.upgrade(engine)
            reaching = load(engine, args.accounts)
            set_s, charged = timed(engine, lambda c: charge_off(c, AS_OF, config))
            loop_s, looped = timed(engine, per_account_loop)
            assert charged == looped == reaching, (charged, looped, reaching)
            print(
                f"{name}: {charged} of {args.accounts} accounts charged off: set-based "
                f"{set_s:.3f} s, per-account loop {loop_s:.3f} s ({loop_s / set_s:.1f}x)"
            )
            results |= {
                f"{name}_charged_off": str(charged),
                f"{name}_set_based_s": f"{set_s:.3f}",
                f"{name}_loop_s": f"{loop_s:.3f}",
                f"{name}_speedup": f"{loop_s / set_s:.1f}",
            }
    print("RESULT " + " ".join(f"{k}={v}" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
