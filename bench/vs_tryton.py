"""`arrears run-day` against Tryton 7.0's dunning run, same book, same PostgreSQL, one run.

    python bench/vs_tryton.py                       # the four rows of the table
    python bench/vs_tryton.py --rows first20k --scale 0.1 --sqlite

The peer is Tryton 7.0 with `account_dunning` (`Dunning.generate_dunnings`), installed from
PyPI into its own virtual environment under `.arrears/bench/tryton-venv` (ignored by git) and
driven by `bench/tryton_peer.py`. Each side gets its own PostgreSQL database on
127.0.0.1:5432 and the same book: one customer (borrower) per debt of 1,000.00 CNY, due the day
before the first day for the overdue ones and 45 days after it for the current ones.

Rows (counts times `--scale`):
- first20k: 20,000 overdue, the first day (20,000 cases / dunnings open);
- first660k: 20,000 overdue + 640,000 current, the first day;
- month660k: the same book 29 days later, the debts 30 days overdue: the 20,000 escalate
  (Tryton: the first day's dunnings were processed, i.e. their letters sent, and move to the
  30-day level; arrears: `run-day` on that date, the day-30 reminder and call of every case);
- first100k: 100,000 overdue, the first day.

arrears is timed as the command a user runs: `arrears run-day --as-of D` in a subprocess,
interpreter start-up included; Tryton as `generate_dunnings(date)` and its commit inside an
already started pool (start-up not counted, in the peer's favour). Ends with one line
`RESULT … vs_tryton=…` (the smallest ratio of Tryton's seconds to arrears' over the rows).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from installed import compile_product
from sqlalchemy import Engine

from arrears.store import migrate
from arrears.store.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".arrears" / "bench" / "tryton-venv"
PEER = Path(__file__).resolve().parent / "tryton_peer.py"
HOST = "127.0.0.1"
AS_OF = date(2025, 6, 30)
PACKAGES = (
    "trytond==7.0.*",
    "trytond-account-dunning==7.0.*",
    "trytond-account==7.0.*",
    "trytond-company==7.0.*",
    "trytond-party==7.0.*",
    "trytond-currency==7.0.*",
    "trytond-country==7.0.*",
    "proteus==7.0.*",
    "psycopg2-binary",
)
# row -> (overdue, current, day offset from AS_OF, book it continues or None)
ROWS: dict[str, tuple[int, int, int, str | None]] = {
    "first20k": (20_000, 0, 0, None),
    "first660k": (20_000, 640_000, 0, None),
    "month660k": (20_000, 640_000, 29, "first660k"),
    "first100k": (100_000, 0, 0, None),
}


def ensure_peer() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    have = subprocess.run(
        [str(python), "-c", "import trytond, proteus, psycopg2; print(trytond.__version__)"],
        capture_output=True,
        text=True,
    )
    if have.returncode != 0 or not have.stdout.startswith("7.0."):
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return python


def peer(python: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), "-W", "ignore", str(PEER), *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"tryton {args[0]} failed:\n{out.stderr[-3000:]}")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def pg_url(db: str) -> str:
    return f"postgresql://postgres@{HOST}:5432/{db}"


def recreate(db: str) -> None:
    subprocess.run(["dropdb", "-h", HOST, "-U", "postgres", "--if-exists", db], check=True)
    subprocess.run(["createdb", "-h", HOST, "-U", "postgres", db], check=True)


def book(overdue: int, current: int) -> Iterator[tuple[str, list[str], list[tuple[Any, ...]]]]:
    """The arrears side of the book: borrowers, accounts, due items (1,000.00 CNY each)."""
    n = overdue + current
    late, later = AS_OF - timedelta(days=1), AS_OF + timedelta(days=45)
    ids = [f"C{k}" for k in range(n)]
    yield (
        "borrowers",
        ["id", "timezone", "language", "phone_status"],
        [(i, "Asia/Shanghai", "zh-CN", "ok") for i in ids],
    )
    yield (
        "accounts",
        ["id", "borrower_id", "product", "currency", "principal", "opened_on", "status"],
        [(i, i, "loan", "CNY", 100_000, AS_OF - timedelta(days=31), "active") for i in ids],
    )
    yield (
        "due_items",
        ["account_id", "seq", "due_on", "principal"],
        [(i, 1, late if k < overdue else later, 100_000) for k, i in enumerate(ids)],
    )


def load(engine: Engine, overdue: int, current: int) -> None:
    migrate.upgrade(engine)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, cols, rows in book(overdue, current):
            if engine.dialect.name == "postgresql":
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
            else:
                marks = ", ".join("?" for _ in cols)
                cur.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                    [tuple(v.isoformat() if isinstance(v, date) else v for v in r) for r in rows],
                )
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def run_day(url: str, day: date) -> tuple[float, dict[str, float], dict[str, str]]:
    """`arrears run-day` as a user runs it: seconds, the report's step seconds and fields."""
    env = dict(os.environ, ARREARS_DATABASE_URL=url)
    cli = Path(sys.executable).parent / "arrears"
    started = time.perf_counter()
    out = subprocess.run(
        [str(cli), "run-day", "--as-of", day.isoformat()], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"arrears run-day failed:\n{out.stderr[-3000:]}")
    fields = {}
    for line in out.stdout.splitlines():
        m = re.match(r"\s*(\w+): (.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2)
    steps = ast.literal_eval(fields.get("step_seconds", "{}"))  # a dict literal
    return seconds, steps, fields


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default=",".join(ROWS), help=f"any of {', '.join(ROWS)}")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every count (0.1: a tenth)")
    p.add_argument("--sqlite", action="store_true", help="also run arrears on SQLite")
    p.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = p.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    for r in rows:
        if r not in ROWS:
            p.error(f"unknown row {r!r}; use {', '.join(ROWS)}")
    python = ensure_peer()
    compile_product()
    tmp = ROOT / ".arrears" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    built: set[str] = set()
    table: list[dict[str, Any]] = []
    for name in rows:
        overdue, current, offset, base = ROWS[name]
        overdue, current = int(overdue * args.scale), int(current * args.scale)
        key = base or name
        tdb, adb = f"bench_tryton_{key}", f"bench_arrears_{key}"
        sdb = tmp / f"arrears_{key}.db"
        day = AS_OF + timedelta(days=offset)
        if base and base not in built:  # the month row on its own: the first day first
            print(f"[{name}] the first day of {base} first (not timed)", flush=True)
            _build(python, tdb, adb, sdb, overdue, current, args.sqlite)
            peer(python, "dun", "--db", tdb, "--date", AS_OF.isoformat())
            run_day(pg_url(adb), AS_OF)
            if args.sqlite:
                run_day(f"sqlite:///{sdb}", AS_OF)
            built.add(base)
        if not base:
            tryton_build, arrears_load = _build(
                python, tdb, adb, sdb, overdue, current, args.sqlite
            )
            print(
                f"[{name}] books built: Tryton {tryton_build:.1f} s,"
                f" arrears (PG, migrations and load) {arrears_load:.1f} s",
                flush=True,
            )
        else:
            peer(python, "process", "--db", tdb)
        tryton = peer(python, "dun", "--db", tdb, "--date", day.isoformat())
        pg_s, steps, fields = run_day(pg_url(adb), day)
        row: dict[str, Any] = {
            "row": name,
            "overdue": overdue,
            "current": current,
            "tryton_s": tryton["seconds"],
            "arrears_pg_s": pg_s,
            "steps": steps,
            "dunnings": tryton["dunnings"],
            "cases_opened": fields.get("cases_opened"),
            "actions": fields.get("actions_planned"),
        }
        if args.sqlite:
            row["arrears_sqlite_s"], row["sqlite_steps"], _ = run_day(f"sqlite:///{sdb}", day)
        row["ratio"] = tryton["seconds"] / pg_s
        table.append(row)
        built.add(name)
        _print_row(row)
    if not args.keep:
        for key in {ROWS[r][3] or r for r in rows}:
            for db in (f"bench_tryton_{key}", f"bench_arrears_{key}"):
                subprocess.run(["dropdb", "-h", HOST, "-U", "postgres", "--if-exists", db])
            (tmp / f"arrears_{key}.db").unlink(missing_ok=True)
    print("\n| row | overdue | current | Tryton 7.0 (PG) | arrears run-day (PG) | ratio |")
    for r in table:
        print(
            f"| {r['row']} | {r['overdue']:,} | {r['current']:,} | {r['tryton_s']:.1f} s "
            f"| {r['arrears_pg_s']:.1f} s | {r['ratio']:.1f}x |"
        )
    parts = [f"scale={args.scale:g}"]
    for r in table:
        parts.append(f"{r['row']}_tryton_s={r['tryton_s']:.2f}")
        parts.append(f"{r['row']}_arrears_pg_s={r['arrears_pg_s']:.2f}")
        if "arrears_sqlite_s" in r:
            parts.append(f"{r['row']}_arrears_sqlite_s={r['arrears_sqlite_s']:.2f}")
    worst = min((r["ratio"] for r in table), default=0.0)
    print("RESULT " + " ".join(parts) + f" vs_tryton={worst:.1f}")
    return 0 if worst >= 10 else 1


def _build(
    python: Path, tdb: str, adb: str, sdb: Path, overdue: int, current: int, sqlite: bool
) -> tuple[float, float]:
    """Both books; the seconds of each side's build (not timed as the day: shown, because
    arrears' load carries the figures its items bring, store/unassessed.py)."""
    counts = ["--overdue", str(overdue), "--current", str(current)]
    started = time.perf_counter()
    peer(python, "build", "--db", tdb, *counts, "--as-of", AS_OF.isoformat())
    tryton_s = time.perf_counter() - started
    recreate(adb)
    engine = make_engine(pg_url(adb))
    started = time.perf_counter()
    try:
        load(engine, overdue, current)
    finally:
        engine.dispose()
    arrears_s = time.perf_counter() - started
    if sqlite:
        sdb.unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{sdb}")
        try:
            load(engine, overdue, current)
        finally:
            engine.dispose()
    return tryton_s, arrears_s


def _print_row(r: dict[str, Any]) -> None:
    steps = ", ".join(f"{k} {v:.2f}" for k, v in r["steps"].items())
    sq = f", SQLite {r['arrears_sqlite_s']:.1f} s" if "arrears_sqlite_s" in r else ""
    print(
        f"[{r['row']}] Tryton {r['tryton_s']:.2f} s ({r['dunnings']}); arrears PG "
        f"{r['arrears_pg_s']:.2f} s{sq} (cases opened {r['cases_opened']}, actions "
        f"{r['actions']}); ratio {r['ratio']:.1f}x\n[{r['row']}]   steps: {steps}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
