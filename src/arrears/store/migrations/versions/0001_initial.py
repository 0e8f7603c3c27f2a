"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from arrears.store.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# NOTE(session 1): while the schema settles within the first session this revision builds the
# tables from the metadata; it is replaced by explicit operations before the first release.


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
