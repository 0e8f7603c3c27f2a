"""The team lead's floor: who decided a plan, when, and why (a rejection's reason)

Revision ID: 0008
Revises: 0007

- `plans.decided_by`, `plans.decided_at`, `plans.decision_note`: the team lead who approved or
  rejected a proposed plan and the reason given, which the agent who proposed it is shown.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("decided_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decision_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("decision_note")
        batch.drop_column("decided_at")
        batch.drop_column("decided_by")
