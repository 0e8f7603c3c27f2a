"""The complaints register: a borrower's complaint, received by any channel, categorised,
assigned to an owner, answered within the rule pack's days and closed. What the borrower said
and what the lender answered are personal data: encrypted (`_enc`)."""

from __future__ import annotations

from sqlalchemy import (
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
    text,
)

from arrears.store.tables import metadata

# status: open (received, maybe assigned) | answered | closed. `pause_outreach`: while the
# complaint is open or answered, the borrower's 'complaint' flag holds and the gate blocks.
complaints = Table(
    "complaints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("borrower_id", String(64), ForeignKey("borrowers.id"), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("received_on", Date, nullable=False),
    Column("channel", String(16), nullable=False),  # phone|email|letter|web|regulator|agency
    Column("category", String(32), nullable=False),
    Column("summary_enc", LargeBinary),
    Column("pause_outreach", Boolean, nullable=False, server_default=text("false")),
    Column("owner", String(64)),
    Column("due_on", Date, nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("answered_on", Date),
    Column("outcome", String(16)),  # upheld | partly_upheld | rejected
    Column("response_enc", LargeBinary),
    Column("closed_on", Date),
    Column("received_by", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_complaints_status_due", "status", "due_on"),
    Index("ix_complaints_borrower_status", "borrower_id", "status"),
)
