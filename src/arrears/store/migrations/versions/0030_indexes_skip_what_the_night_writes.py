"""borrowers and outbox: indexes of the few rows a look-up wants

Revision ID: 0030
Revises: 0029

The daily run marks unreachable the open cases of borrowers whose own number proved wrong or
out of service: PostgreSQL read every borrower for them (660,000 borrowers: 77 ms a night for
none found). `ix_borrowers_phone_unusable` holds only those borrowers.

Every message the run queues was written into `ix_outbox_provider_id` with no provider id yet;
the index now holds the messages a provider has acknowledged, the only ones it is read for
(delivery receipts find their message by the provider's id).
"""

from __future__ import annotations

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_UNUSABLE = "WHERE phone_status IN ('wrong', 'out_of_service')"
_ACKNOWLEDGED = "WHERE provider_id IS NOT NULL"


def upgrade() -> None:
    op.execute(f"CREATE INDEX ix_borrowers_phone_unusable ON borrowers (id) {_UNUSABLE}")
    op.drop_index("ix_outbox_provider_id", table_name="outbox")
    op.execute(f"CREATE INDEX ix_outbox_provider_id ON outbox (provider_id) {_ACKNOWLEDGED}")


def downgrade() -> None:
    op.drop_index("ix_outbox_provider_id", table_name="outbox")
    op.create_index("ix_outbox_provider_id", "outbox", ["provider_id"])
    op.drop_index("ix_borrowers_phone_unusable", table_name="borrowers")
