"""Communications: message templates (versioned, approved), what was sent with which version,
provider references of multi-part messages, delivery receipts, inbound messages, opt-outs."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from arrears.store.tables import metadata

comm_templates = Table(
    "comm_templates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("channel", String(16), nullable=False),  # sms | email | push | letter | voice | call
    Column("language", String(16), nullable=False),  # zh-CN | en
    Column("audience", String(16), nullable=False),  # borrower | contact
    Column("version", Integer, nullable=False),
    Column("subject", Text),
    Column("body", Text, nullable=False),
    Column("html", Text),
    Column("slots", Text, nullable=False),  # JSON list of declared slot names
    # draft | approved | retired
    Column("status", String(16), nullable=False, server_default="draft"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64)),
    Column("approved_at", DateTime(timezone=True)),
    Column("approved_by", String(64)),
    UniqueConstraint("name", "channel", "language", "version"),
)

# one row per message handed to a provider: the template version and the SMS segment count
comm_sends = Table(
    "comm_sends",
    metadata,
    Column("outbox_id", Integer, ForeignKey("outbox.id"), primary_key=True),
    Column("template_version", Integer, nullable=False, server_default=text("0")),
    Column("segments", Integer, nullable=False, server_default=text("1")),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

# every provider reference of a message beyond the first (the first is outbox.provider_id)
comm_provider_refs = Table(
    "comm_provider_refs",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("provider_id", String(128), primary_key=True),
    Column("outbox_id", Integer, ForeignKey("outbox.id"), nullable=False, index=True),
)

comm_receipts = Table(
    "comm_receipts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("provider_id", String(128), nullable=False),
    Column("outbox_id", Integer, ForeignKey("outbox.id")),  # null: no message matched
    Column("state", String(16), nullable=False),  # delivered | failed
    Column("reason", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_comm_receipts_provider_id", "channel", "provider_id"),
)

comm_inbound = Table(
    "comm_inbound",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("sender_index", String(32), nullable=False, index=True),  # blind index of the number
    Column("sender_enc", LargeBinary),
    Column("body_enc", LargeBinary),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("opt_out", Integer, nullable=False, server_default=text("0")),
)

comm_suppressions = Table(
    "comm_suppressions",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("address_index", String(32), primary_key=True),  # blind index of phone / e-mail
    Column("reason", String(32), nullable=False),  # opt_out | hard_bounce | manual
    Column("created_at", DateTime(timezone=True), nullable=False),
)
