"""the legal stage: legal referral rules, legal cases, their transitions and documents

Revision ID: 0020
Revises: 0019

A case matching a legal rule (DPD ≥ 120, no active plan, not placed with an agency, a balance
above the rule's minimum) or referred by a team lead is in legal until it is closed or
withdrawn (`ended_on`); one live legal case per case. Each move of its status is a row of
`legal_events` (who, when); a demand letter is a row of `legal_documents` (the PDF encrypted).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legal_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("min_dpd", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("min_balance", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("no_active_plan", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("priority", sa.Integer, nullable=False, server_default=sa.text("100")),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "legal_cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("status", sa.String(24), nullable=False, server_default="referred"),
        sa.Column("rule_id", sa.Integer, sa.ForeignKey("legal_rules.id")),
        sa.Column("referred_on", sa.Date, nullable=False),
        sa.Column("referred_by", sa.String(64), nullable=False),
        sa.Column("dpd_at_referral", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column(
            "balance_at_referral", sa.BigInteger, nullable=False, server_default=sa.text("0")
        ),
        sa.Column("queue_before", sa.String(32), nullable=False),
        sa.Column("ended_on", sa.Date),
    )
    op.create_index("ix_legal_cases_case_id", "legal_cases", ["case_id"])
    op.create_index("ix_legal_cases_status", "legal_cases", ["status"])
    op.create_index(
        "uq_legal_cases_live_case",
        "legal_cases",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text("ended_on IS NULL"),
        postgresql_where=sa.text("ended_on IS NULL"),
    )
    op.create_table(
        "legal_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("legal_case_id", sa.Integer, sa.ForeignKey("legal_cases.id"), nullable=False),
        sa.Column("from_status", sa.String(24)),
        sa.Column("to_status", sa.String(24), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_legal_events_legal_case_id", "legal_events", ["legal_case_id"])
    op.create_table(
        "legal_documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("legal_case_id", sa.Integer, sa.ForeignKey("legal_cases.id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_enc", sa.LargeBinary),
        sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id")),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_legal_documents_legal_case_id", "legal_documents", ["legal_case_id"])


def downgrade() -> None:
    op.drop_table("legal_documents")
    op.drop_table("legal_events")
    op.drop_index("uq_legal_cases_live_case", table_name="legal_cases")
    op.drop_table("legal_cases")
    op.drop_table("legal_rules")
