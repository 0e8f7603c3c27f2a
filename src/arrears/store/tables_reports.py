"""Tables of scheduled reports: what is e-mailed to whom and how often, and what was sent for
each business date (so a night run again sends nothing twice)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)

from arrears.store.tables import metadata

report_schedules = Table(
    "report_schedules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # an export: cases, promises, …
    Column("format", String(8), nullable=False),  # csv | xlsx
    Column("recipients", Text, nullable=False),  # e-mail addresses, comma-separated
    Column("cadence", String(8), nullable=False),  # daily | weekly
    Column("weekday", Integer),  # weekly: 0 Monday … 6 Sunday
    Column("role", String(16), nullable=False),  # whose masking applies
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("removed_by", String(64)),
    Column("removed_at", DateTime(timezone=True)),
)

report_sends = Table(
    "report_sends",
    metadata,
    Column("schedule_id", Integer, ForeignKey("report_schedules.id"), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("recipient", String(254), primary_key=True),
    Column("rows", Integer, nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)
