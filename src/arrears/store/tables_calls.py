"""Calls the dialler placed: who called whom on which case, how it ended, and the recording.

One row per dial, written when the call starts (`ended_at` empty while it runs: the team lead's
"on a call now") and completed when the dialler reports the result. The number dialled is not
stored here — it stays encrypted on the borrower or contact. The recording is a path relative to
the recording store's root with its SHA-256 (also in the audit log)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    text,
)

from arrears.store.tables import cases, interactions, metadata

calls = Table(
    "calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # the dialler's id for the call (also the recording's file name)
    Column("call_key", String(64), nullable=False, unique=True),
    Column("case_id", Integer, ForeignKey(cases.c.id), nullable=False, index=True),
    Column("interaction_id", Integer, ForeignKey(interactions.c.id)),
    Column("action_id", Integer),  # the call's action, as the compliance port judged it
    Column("agent", String(64), nullable=False),
    Column("target_type", String(16), nullable=False),  # borrower | contact
    Column("target_id", String(64), nullable=False),
    Column("dialer", String(32), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    # answered | no_answer | busy | rejected | failed
    Column("outcome", String(16)),
    Column("talk_ms", Integer),
    Column("reason", String(128)),
    Column("recording_path", String(255)),
    Column("recording_sha256", String(64)),
    Column("recording_ms", Integer),
    Column("recording_purged_on", Date),
    Index("ix_calls_agent_started_at", "agent", "started_at"),
    Index(
        "ix_calls_live",
        "agent",
        sqlite_where=text("ended_at IS NULL"),
        postgresql_where=text("ended_at IS NULL"),
    ),
)
