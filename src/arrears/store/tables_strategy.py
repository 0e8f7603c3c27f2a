"""Strategy experiments: each case's variant, assigned once per strategy and kept."""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Table

from arrears.store.tables import metadata

strategy_assignments = Table(
    "strategy_assignments",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("strategy", String(64), primary_key=True),
    Column("salt", String(64), nullable=False),
    Column("bucket", Integer, nullable=False),  # 0..99, from the case id and the salt
    Column("variant", String(32), nullable=False),
    Column("assigned_on", Date, nullable=False),
    Index("ix_strategy_assignments_strategy_variant", "strategy", "variant"),
)
