"""rule packs per borrower (jurisdiction, the jurisdiction → pack map) and disputes

Revision ID: 0011
Revises: 0010

A borrower's `jurisdiction` (CN, US-CA, GB, …) chooses the rule pack the gate judges their
outreach under, through `compliance_jurisdictions` (a jurisdiction or a prefix such as `US-*`
mapped to a pack); the portfolio default stays in `compliance_settings`. A dispute pauses
collection of the disputed account until it is verified or withdrawn (`disputes`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("borrowers") as batch:
        batch.add_column(sa.Column("jurisdiction", sa.String(16), nullable=True))
    op.create_table(
        "compliance_jurisdictions",
        sa.Column("pattern", sa.String(16), primary_key=True),
        sa.Column("pack", sa.String(8), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("borrower_id", sa.String(64), sa.ForeignKey("borrowers.id"), nullable=False),
        sa.Column("account_id", sa.String(64)),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("raised_on", sa.Date, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("resolved_on", sa.Date),
        sa.Column("resolved_by", sa.String(64)),
        sa.Column("resolution_note", sa.Text),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_disputes_borrower_status", "disputes", ["borrower_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_disputes_borrower_status", table_name="disputes")
    op.drop_table("disputes")
    op.drop_table("compliance_jurisdictions")
    with op.batch_alter_table("borrowers") as batch:
        batch.drop_column("jurisdiction")
