"""The agent's own records on a case: notes written outside a call's outcome."""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text

from arrears.store.tables import metadata

case_notes = Table(
    "case_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("author", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_case_notes_case_id", "case_id"),
)
