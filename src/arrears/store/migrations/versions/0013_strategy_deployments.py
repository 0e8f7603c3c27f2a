"""strategy deployments: versioned strategies, maker-checker approvals, variant shares

Revision ID: 0013
Revises: 0012

A strategist deploys a strategy file (`strategy_versions`, the YAML verbatim with its SHA-256,
pending); a second person approves it from a business date with the variants' shares of new
cases (`strategy_version_shares`); each case records the deployed version that plans it
(`case_strategy_versions`: `new`, or `migrated` when a deploy moved open cases).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "strategy_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("migrate_open_cases", sa.Boolean, nullable=False),
        sa.Column("deployed_by", sa.String(64), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(64)),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("approval_seq", sa.Integer),
        sa.Column("active_from", sa.Date),
        sa.Column("retired_from", sa.Date),
        sa.Column("retired_by", sa.String(64)),
        sa.UniqueConstraint("name", "version", name="uq_strategy_versions_name_version"),
    )
    op.create_table(
        "strategy_version_shares",
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey(
                "strategy_versions.id",
                name="fk_strategy_version_shares_version_id_strategy_versions",
            ),
            primary_key=True,
        ),
        sa.Column("variant", sa.String(32), primary_key=True),
        sa.Column("share", sa.Integer, nullable=False),
    )
    op.create_table(
        "case_strategy_versions",
        sa.Column(
            "case_id",
            sa.Integer,
            sa.ForeignKey("cases.id", name="fk_case_strategy_versions_case_id_cases"),
            primary_key=True,
        ),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey(
                "strategy_versions.id",
                name="fk_case_strategy_versions_version_id_strategy_versions",
            ),
            primary_key=True,
        ),
        sa.Column("since", sa.Date, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
    )
    op.create_index(
        "ix_case_strategy_versions_version_id", "case_strategy_versions", ["version_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_case_strategy_versions_version_id", table_name="case_strategy_versions")
    op.drop_table("case_strategy_versions")
    op.drop_table("strategy_version_shares")
    op.drop_table("strategy_versions")
