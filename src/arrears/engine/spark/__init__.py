"""The nightly run past one machine: delinquency, cases and strategy on Apache Spark.

The day's inputs are extracted from the database (PostgreSQL or SQLite) to Parquet, partitioned
by a borrower hash shard; Spark SQL computes each account's figures, the cases to open, refresh,
close and mark unreachable, and the strategy's actions (compiled from the same source as on
the databases: `strategy/compile.py`, dialect `spark`); each shard's results are written back
in a transaction of its own, with the unique keys of the single-node run, so re-running a
shard or the whole day adds nothing twice. The ledger steps before, and the compliance gate
and outbox after, are the single-node run's own (`docs/spark.md`).

Only this package imports pyspark, and only when a Spark run is asked for.
"""
