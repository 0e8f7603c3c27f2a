"""interactions: indexes for the look-ups the dispatcher and the gate make on every batch

Revision ID: 0003
Revises: 0002

- `action_id`: a delivery receipt moves the interaction of its action (`UPDATE interactions
  WHERE action_id IN (...)`), which otherwise reads the whole table once per batch of receipts;
- `target_id`: the gate counts the conversations a designated contact has already had;
- `(business_date, channel)`: the gate counts today's calls per number.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_interactions_action_id", "interactions", ["action_id"])
    op.create_index("ix_interactions_target_id", "interactions", ["target_id"])
    op.create_index(
        "ix_interactions_business_date_channel", "interactions", ["business_date", "channel"]
    )


def downgrade() -> None:
    op.drop_index("ix_interactions_business_date_channel", table_name="interactions")
    op.drop_index("ix_interactions_target_id", table_name="interactions")
    op.drop_index("ix_interactions_action_id", table_name="interactions")
