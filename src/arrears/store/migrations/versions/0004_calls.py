"""calls: one row per call the dialler placed, with its recording

Revision ID: 0004
Revises: 0003

The dialler port (`arrears.channels.telephony`) writes a row when a call starts and completes it
when the call ends: outcome, answer and end times, talk time and the recording (path relative
to the recording store, SHA-256). `ix_calls_live` finds the calls still running (the team
lead's "on a call now").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_key", sa.String(64), nullable=False, unique=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("interaction_id", sa.Integer(), sa.ForeignKey("interactions.id")),
        sa.Column("action_id", sa.Integer()),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("dialer", sa.String(32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(16)),
        sa.Column("talk_ms", sa.Integer()),
        sa.Column("reason", sa.String(128)),
        sa.Column("recording_path", sa.String(255)),
        sa.Column("recording_sha256", sa.String(64)),
        sa.Column("recording_ms", sa.Integer()),
        sa.Column("recording_purged_on", sa.Date()),
    )
    op.create_index("ix_calls_case_id", "calls", ["case_id"])
    op.create_index("ix_calls_agent_started_at", "calls", ["agent", "started_at"])
    op.create_index(
        "ix_calls_live",
        "calls",
        ["agent"],
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_calls_live", table_name="calls")
    op.drop_index("ix_calls_agent_started_at", table_name="calls")
    op.drop_index("ix_calls_case_id", table_name="calls")
    op.drop_table("calls")
