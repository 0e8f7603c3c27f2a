"""quarantined_accounts: accounts the daily run sets aside because their figures cannot be
computed safely (amounts beyond the engine's bounds); reported and skipped, never the night

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantined_accounts",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_quarantined_accounts")),
    )


def downgrade() -> None:
    op.drop_table("quarantined_accounts")
