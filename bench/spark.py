"""`arrears run-day --engine spark` against the single-node `arrears run-day`, same book.

    python bench/spark.py --accounts 100000 --shards 4

Builds the book of `bench/run_day.py` (12 due items per account, 3% delinquent, one
delinquent borrower in ten in a breathing space) twice in the same database kind (SQLite by
default, `--backend postgresql`), then runs the first day as a user runs it — a process of its
own each — once single-node and once on Spark (`--spark-master`, `local[2]` by default), and
checks that both planned the same number of actions and opened the same cases. Ends with
`RESULT accounts=… spark_s=… single_s=… spark_per_s=… vs_single=…` (vs_single: the Spark run's
accounts per second over the single-node run's).
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
from pathlib import Path

from sqlalchemy import Engine, text

from arrears.store import migrate
from arrears.store.db import make_engine, normalise_url

sys.path.insert(0, str(Path(__file__).parent))
import run_day as book  # the bench helpers next to this file


def run(engine: Engine, extra: list[str]) -> tuple[float, dict[str, str]]:
    """`arrears run-day --as-of` in a process of its own: seconds and the report's fields."""
    env = dict(os.environ, ARREARS_DATABASE_URL=engine.url.render_as_string(hide_password=False))
    cli = Path(sys.executable).parent / "arrears"
    command = [str(cli), "run-day", "--as-of", book.AS_OF.isoformat(), *extra]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed:\n{done.stderr[-3000:]}")
    fields = {}
    for line in done.stdout.splitlines():
        m = re.match(r"\s*(\w+): (.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2)
    return seconds, fields


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--accounts", type=int, default=100_000)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--spark-master", default="local[2]")
    p.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument(
        "--pg-url",
        default=os.environ.get(
            "ARREARS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = p.parse_args(argv)
    n = args.accounts
    t = time.perf_counter()
    con = book.generate(n)
    print(f"portfolio: {n:,} accounts x 12 due items; generated in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engines: dict[str, Engine] = {}
        schemas: list[str] = []
        admin = make_engine(args.pg_url) if args.backend == "postgresql" else None
        files = book.export(con, folder) if admin is not None else {}
        for label in ("single", "spark"):
            if admin is None:
                engine = make_engine(f"sqlite:///{folder / f'{label}.db'}")
            else:
                schema = "bench_" + uuid.uuid4().hex[:8]
                schemas.append(schema)
                with admin.begin() as c:
                    c.execute(text(f"CREATE SCHEMA {schema}"))
                sep = "&" if "?" in args.pg_url else "?"
                url = normalise_url(args.pg_url) + f"{sep}options=-csearch_path%3D{schema}"
                engine = make_engine(url)
            migrate.upgrade(engine)
            t = time.perf_counter()
            if admin is None:
                book.load_sqlite(engine, con)
            else:
                book.load_postgres(engine, files)
            print(f"[{label}] loaded in {time.perf_counter() - t:.1f} s")
            engines[label] = engine
        try:
            single_s, single = run(engines["single"], [])
            print(f"[single] {single_s:.1f} s; steps {single.get('step_seconds')}")
            options = ["--engine", "spark", "--shards", str(args.shards)]
            options += ["--spark-master", args.spark_master]
            options += ["--spark-workdir", str(folder / "work")]
            spark_s, spark = run(engines["spark"], options)
            steps = ast.literal_eval(spark.get("step_seconds", "{}"))
            print(f"[spark]  {spark_s:.1f} s; steps {steps}")
        finally:
            for engine in engines.values():
                engine.dispose()
            if admin is not None:
                with admin.begin() as c:
                    for schema in schemas:
                        c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    same = all(
        single[k] == spark[k] for k in ("cases_opened", "actions_planned", "accounts_changed")
    )
    print(
        f"cases opened {single['cases_opened']} / {spark['cases_opened']}, actions "
        f"{single['actions_planned']} / {spark['actions_planned']}: "
        + ("the same" if same else "DIFFERENT")
    )
    print(
        f"RESULT accounts={n} backend={args.backend} shards={args.shards} "
        f"spark_s={spark_s:.1f} single_s={single_s:.1f} spark_per_s={n / spark_s:.0f} "
        f"single_per_s={n / single_s:.0f} vs_single={single_s / spark_s:.2f} "
        f"same_plan={'yes' if same else 'no'}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
