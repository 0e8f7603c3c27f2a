"""`arrears import` of a large payments extract: time and peak memory of the command a user runs.

    python bench/import.py --rows 10000000                      # SQLite (a file in a temp dir)
    python bench/import.py --rows 10000000 --database postgresql://postgres@127.0.0.1/bench

Writes a payments extract of N rows (and the borrowers and accounts it refers to, imported
first and not measured), then runs `arrears import DIR` on it as a subprocess and reads the
child's own peak resident memory (`os.wait4`'s rusage). In the same run, the baseline: a bare
`csv.reader` pass over the same file in a subprocess (time and peak memory of just reading it),
and on PostgreSQL also `COPY` of the file into an unindexed table (what the database alone
takes to load it). Target: peak RSS <= 500 MB whatever N. Ends with one line
`RESULT rows=... seconds=... rows_per_s=... peak_rss_mb=...`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARREARS = Path(sys.executable).parent / "arrears"
PEAK_LIMIT_MB = 500

READ_ONLY = """
import csv, sys
n = 0
with open(sys.argv[1], newline="", encoding="utf-8") as fh:
    for row in csv.reader(fh):
        n += 1
print(n - 1)
"""


def write_extracts(directory: Path, rows: int, accounts: int) -> Path:
    """borrowers.csv + accounts.csv in directory/setup, payments.csv in directory/payments."""
    setup = directory / "setup"
    feed = directory / "payments"
    setup.mkdir()
    feed.mkdir()
    with (setup / "borrowers.csv").open("w", encoding="utf-8") as fh:
        fh.write("borrower_id,name,phone,email,timezone,language\n")
        fh.writelines(
            f"B{i},Borrower {i},138{i % 100_000_000:08d},,Asia/Shanghai,zh-CN\n"
            for i in range(accounts)
        )
    with (setup / "accounts.csv").open("w", encoding="utf-8") as fh:
        fh.write(
            "account_id,borrower_id,product,currency,principal,annual_rate,penalty_rate,opened_on\n"
        )
        fh.writelines(
            f"A{i},B{i},instalment_loan,CNY,12000.00,0.18,0.05,2024-01-01\n"
            for i in range(accounts)
        )
    days = [f"2025-{m:02d}-{d:02d}" for m in range(1, 13) for d in (1, 8, 15, 22)]
    with (feed / "payments.csv").open("w", encoding="utf-8") as fh:
        fh.write("payment_id,account_id,amount,currency,received_on\n")
        chunk = 100_000
        for start in range(0, rows, chunk):
            fh.writelines(
                f"P{i},A{i % accounts},{100 + i % 9_000}.{i % 100:02d},CNY,{days[i % len(days)]}\n"
                for i in range(start, min(rows, start + chunk))
            )
    return feed / "payments.csv"


def measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run cmd; (seconds, its peak RSS in MB, stdout). Fails on a non-zero exit."""
    started = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    assert child.stdout is not None and child.stderr is not None
    out, err = child.stdout.read().decode(), child.stderr.read().decode()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({child.returncode}):\n{out}\n{err[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def copy_baseline(url: str, payments: Path) -> float:
    """Seconds PostgreSQL takes to COPY the file into an unindexed table of the same shape."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TEMP TABLE bench_copy (payment_id text, account_id text, amount numeric, "
            "currency text, received_on date)"
        )
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            payments.open("rb") as fh,
        ):
            while block := fh.read(1 << 20):
                copy.write(block)
        return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="payment rows")
    ap.add_argument("--accounts", type=int, default=100_000, help="accounts they are spread over")
    ap.add_argument("--database", help="PostgreSQL URL (an empty database); default SQLite")
    ap.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        url = args.database or f"sqlite:///{work / 'bench.db'}"
        env = {**os.environ, "ARREARS_DATABASE_URL": url, "ARREARS_KEY_FILE": str(work / "k.json")}
        started = time.perf_counter()
        payments = write_extracts(work, args.rows, args.accounts)
        size_mb = payments.stat().st_size / 2**20
        wrote_s = time.perf_counter() - started
        print(f"wrote {args.rows} payments ({size_mb:.0f} MB) in {wrote_s:.0f} s")
        subprocess.run([str(ARREARS), "db", "upgrade"], env=env, check=True, capture_output=True)
        setup_s, setup_rss, _ = measured([str(ARREARS), "import", str(work / "setup")], env)
        print(
            f"setup: {args.accounts} borrowers and accounts in {setup_s:.1f} s, {setup_rss:.0f} MB"
        )

        read_s, read_rss, counted = measured([sys.executable, "-c", READ_ONLY, str(payments)], env)
        assert int(counted) == args.rows, counted
        print(f"baseline: csv.reader pass {read_s:.1f} s, peak {read_rss:.0f} MB")
        copy_s = copy_baseline(url, payments) if args.database else None
        if copy_s is not None:
            print(f"baseline: PostgreSQL COPY of the file {copy_s:.1f} s")

        seconds, peak, out = measured([str(ARREARS), "import", str(payments.parent)], env)
        print(out.strip())
        assert str(args.rows) in out, out

    dialect = "postgresql" if args.database else "sqlite"
    copy_part = f" copy_seconds={copy_s:.1f}" if copy_s is not None else ""
    print(
        f"RESULT rows={args.rows} seconds={seconds:.1f} rows_per_s={args.rows / seconds:.0f} "
        f"peak_rss_mb={peak:.0f} db={dialect} file_mb={size_mb:.0f} "
        f"read_only_seconds={read_s:.1f} read_only_rss_mb={read_rss:.0f}{copy_part} "
        f"limit_mb={PEAK_LIMIT_MB} within_limit={'yes' if peak <= PEAK_LIMIT_MB else 'no'}"
    )
    if peak > PEAK_LIMIT_MB:
        sys.exit(1)


if __name__ == "__main__":
    main()
