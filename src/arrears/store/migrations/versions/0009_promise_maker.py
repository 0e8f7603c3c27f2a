"""promises.made_by: the agent who took the promise, for the team lead's floor per agent

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("promises") as batch:
        batch.add_column(sa.Column("made_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("promises") as batch:
        batch.drop_column("made_by")
