"""The nightly run under spark-submit: the driver of `arrears run-day --engine spark`, with
the master, executors and their settings given by spark-submit (docs/spark.md).

    spark-submit --master yarn --deploy-mode client \\
      "$(python -c 'import arrears.cli.spark_submit as m; print(m.__file__)')" \\
      --as-of 2026-03-02 --shards 64 --spark-workdir /shared/arrears-spark

Every option of `arrears run-day` may follow; the database is `ARREARS_DATABASE_URL`.
"""

from __future__ import annotations

import sys


def run(argv: list[str] | None = None) -> None:
    from arrears.cli import main

    args = sys.argv[1:] if argv is None else argv
    sys.argv = ["arrears", "run-day", "--engine", "spark", "--spark-master", "", *args]
    main()


if __name__ == "__main__":
    run()
