"""External collection agencies: who they are, what they earn (commission tiers), which cases
go to them (placement rules), the placements themselves, the tokens bound to an agency, and the
payments an agency reports (one per agency payment reference)."""

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
    text,
)

from arrears.store.tables import metadata, money

agencies = Table(
    "agencies",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    # dpd: the case's DPD when placed chooses the tier; age: days since placement at payment
    Column("tier_basis", String(8), nullable=False, server_default="dpd"),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# rate_ppm applies from `from_days` (inclusive) up to the next tier's from_days
agency_tiers = Table(
    "agency_tiers",
    metadata,
    Column("agency_id", String(32), ForeignKey("agencies.id"), primary_key=True),
    Column("from_days", Integer, primary_key=True),
    Column("rate_ppm", Integer, nullable=False),
)

placement_rules = Table(
    "placement_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agency_id", String(32), ForeignKey("agencies.id"), nullable=False),
    Column("min_dpd", Integer, nullable=False),
    Column("max_dpd", Integer),
    Column("no_active_plan", Boolean, nullable=False, server_default=text("true")),
    Column("priority", Integer, nullable=False, server_default=text("100")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

placements = Table(
    "placements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("agency_id", String(32), ForeignKey("agencies.id"), nullable=False),
    Column("rule_id", Integer, ForeignKey("placement_rules.id")),
    Column("placed_on", Date, nullable=False),
    Column("dpd_at_placement", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    money("overdue_at_placement"),
    # placed | recalled
    Column("status", String(16), nullable=False, server_default="placed"),
    Column("placed_by", String(64), nullable=False),
    Column("recalled_on", Date),
    Column("recalled_by", String(64)),
    Column("recall_reason", Text),
    Index("ix_placements_agency_id_status", "agency_id", "status"),
    Index("ix_placements_case_id", "case_id"),
    # one agency at a time: a case is placed once until recalled
    Index(
        "uq_placements_placed_case",
        "case_id",
        unique=True,
        sqlite_where=text("status = 'placed'"),
        postgresql_where=text("status = 'placed'"),
    ),
)

agency_tokens = Table(
    "agency_tokens",
    metadata,
    Column("token_id", String(16), ForeignKey("integration_tokens.id"), primary_key=True),
    Column("agency_id", String(32), ForeignKey("agencies.id"), nullable=False),
)

agency_payments = Table(
    "agency_payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agency_id", String(32), ForeignKey("agencies.id"), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("placement_id", Integer, ForeignKey("placements.id"), nullable=False),
    Column("payment_id", String(64), ForeignKey("payments.id"), nullable=False),
    Column("reported_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("agency_id", "reference"),
)
