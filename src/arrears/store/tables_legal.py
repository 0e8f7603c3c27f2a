"""The legal stage: the rules that refer cases to the legal team, the legal cases, each move of
their status (who, when), and the documents made for them (a demand letter: its kind, language,
SHA-256 and the PDF itself, encrypted: it names the borrower and their address)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from arrears.store.tables import metadata, money

legal_rules = Table(
    "legal_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("min_dpd", Integer, nullable=False),
    # the least balance (minor units of `currency`) a case must owe; no currency: any, no minimum
    Column("currency", String(3)),
    Column("min_balance", BigInteger, nullable=False, server_default=text("0")),
    Column("no_active_plan", Boolean, nullable=False, server_default=text("true")),
    Column("priority", Integer, nullable=False, server_default=text("100")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

legal_cases = Table(
    "legal_cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    # referred | demand_letter_sent | filed | judgment | enforcement | closed | withdrawn
    Column("status", String(24), nullable=False, server_default="referred"),
    Column("rule_id", Integer, ForeignKey("legal_rules.id")),  # none: referred by a person
    Column("referred_on", Date, nullable=False),
    Column("referred_by", String(64), nullable=False),
    Column("dpd_at_referral", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    money("balance_at_referral"),
    Column("queue_before", String(32), nullable=False),  # the case's queue, given back after
    Column("ended_on", Date),  # closed or withdrawn on
    Index("ix_legal_cases_case_id", "case_id"),
    Index("ix_legal_cases_status", "status"),
    # a case is in legal once at a time
    Index(
        "uq_legal_cases_live_case",
        "case_id",
        unique=True,
        sqlite_where=text("ended_on IS NULL"),
        postgresql_where=text("ended_on IS NULL"),
    ),
)

legal_events = Table(
    "legal_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("legal_case_id", Integer, ForeignKey("legal_cases.id"), nullable=False),
    Column("from_status", String(24)),  # none: the referral
    Column("to_status", String(24), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("by", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("note", Text),
    Index("ix_legal_events_legal_case_id", "legal_case_id"),
)

legal_documents = Table(
    "legal_documents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("legal_case_id", Integer, ForeignKey("legal_cases.id"), nullable=False),
    Column("kind", String(24), nullable=False),  # demand_letter
    Column("language", String(16), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_enc", LargeBinary),  # none: erased by retention (the hash stays)
    Column("action_id", Integer, ForeignKey("actions.id")),  # the gate's decision on sending it
    Column("business_date", Date, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_legal_documents_legal_case_id", "legal_case_id"),
)
