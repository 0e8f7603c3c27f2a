"""Strategy experiments: each case's variant, assigned once per strategy and kept."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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

# A strategy as deployed: the YAML kept verbatim with its SHA-256, pending until a second
# person approves it from a business date; a rollback retires it from a date.
strategy_versions = Table(
    "strategy_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rolled_back
    Column("migrate_open_cases", Boolean, nullable=False),
    Column("deployed_by", String(64), nullable=False),
    Column("deployed_at", DateTime(timezone=True), nullable=False),
    Column("approved_by", String(64)),
    Column("approved_at", DateTime(timezone=True)),
    Column("approval_seq", Integer),  # order of approvals: the latest in force wins
    Column("active_from", Date),
    Column("retired_from", Date),
    Column("retired_by", String(64)),
    UniqueConstraint("name", "version"),
)

# The variant shares of new cases an approval set (percent; they add up to 100).
strategy_version_shares = Table(
    "strategy_version_shares",
    metadata,
    Column("version_id", Integer, ForeignKey("strategy_versions.id"), primary_key=True),
    Column("variant", String(32), primary_key=True),
    Column("share", Integer, nullable=False),
)

# Which deployed version plans a case: the row given when the case was new, and one more
# for each deploy that moved open cases (reason `migrated`); the latest `since` is in force.
case_strategy_versions = Table(
    "case_strategy_versions",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("version_id", Integer, ForeignKey("strategy_versions.id"), primary_key=True),
    Column("since", Date, nullable=False),
    Column("reason", String(16), nullable=False),  # new | migrated
    Index("ix_case_strategy_versions_version_id", "version_id"),
)
