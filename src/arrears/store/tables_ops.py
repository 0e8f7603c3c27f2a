"""Tables of operations: the nightly run's nights and their steps, and the lock that keeps two
nights from overlapping (docs/operations.md).

A night is one business date; its steps (import, run_day, dispatch, webhooks, reports) are
recorded as they run, so a failed night resumes from the step that failed. The lock is one row
per lock name: who holds it and since when; a second night finds the row and refuses (or
waits), and a stale row is removed only on the operator's word (`--break-lock`)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Integer,
    String,
    Table,
    Text,
    text,
)

from arrears.store.tables import metadata

nights = Table(
    "nights",
    metadata,
    Column("business_date", Date, primary_key=True),
    # running | failed | finished
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("failed_step", String(32)),
    Column("error", Text),
    Column("runs", Integer, nullable=False, server_default=text("1")),
    Column("by", String(64), nullable=False),
)

night_steps = Table(
    "night_steps",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("step", String(32), primary_key=True),
    Column("position", Integer, nullable=False),
    # running | finished | failed | skipped
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("seconds", Float),
    Column("rows", Integer),
    Column("note", String(300)),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    ForeignKeyConstraint(["business_date"], [nights.c.business_date]),
)

night_lock = Table(
    "night_lock",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
)
