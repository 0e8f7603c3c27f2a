"""auth_throttle: atomic try counters for sign-in and the borrower page, per account and source;
integration_tokens.expires_at: tokens expire; login_attempts no longer keeps names that are no
account's (often a password typed into the name field): those already stored become (unknown)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_throttle",
        sa.Column("key", sa.String(96), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("window_ends", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_throttle")),
    )
    with op.batch_alter_table("integration_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE login_attempts SET username = '(unknown)' "
        "WHERE username NOT IN (SELECT username FROM users)"
    )


def downgrade() -> None:
    with op.batch_alter_table("integration_tokens") as batch:
        batch.drop_column("expires_at")
    op.drop_table("auth_throttle")
