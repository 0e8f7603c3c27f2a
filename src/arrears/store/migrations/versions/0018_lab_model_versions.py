"""the lab's deployed score models: versions with maker-checker approval

Revision ID: 0018
Revises: 0017

A risk analyst deploys a trained score model (`lab_model_versions`: the model's bytes with
their SHA-256 and card, pending); a second person approves it from a business date; per score,
the latest approval in force is the model the nightly batch scores with.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("score", sa.String(16), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("blob", sa.LargeBinary, nullable=False),
        sa.Column("card", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deployed_by", sa.String(64), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(64)),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("approval_seq", sa.Integer),
        sa.Column("active_from", sa.Date),
        sa.Column("retired_from", sa.Date),
        sa.Column("retired_by", sa.String(64)),
        sa.UniqueConstraint("version", name="uq_lab_model_versions_version"),
    )


def downgrade() -> None:
    op.drop_table("lab_model_versions")
