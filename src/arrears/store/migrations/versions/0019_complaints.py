"""the complaints register

Revision ID: 0019
Revises: 0018

A complaint received by any channel (phone, e-mail, letter, web, regulator, agency), in a fixed
category, assigned to an owner, answered within the borrower's rule pack's days and closed; it
may pause outreach while open (the borrower's 'complaint' flag, which the gate honours).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("borrower_id", sa.String(64), sa.ForeignKey("borrowers.id"), nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("summary_enc", sa.LargeBinary),
        sa.Column("pause_outreach", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("owner", sa.String(64)),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("answered_on", sa.Date),
        sa.Column("outcome", sa.String(16)),
        sa.Column("response_enc", sa.LargeBinary),
        sa.Column("closed_on", sa.Date),
        sa.Column("received_by", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_complaints_status_due", "complaints", ["status", "due_on"])
    op.create_index("ix_complaints_borrower_status", "complaints", ["borrower_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_complaints_borrower_status", table_name="complaints")
    op.drop_index("ix_complaints_status_due", table_name="complaints")
    op.drop_table("complaints")
