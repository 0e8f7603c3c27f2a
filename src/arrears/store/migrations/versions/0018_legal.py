"""the legal stage: legal referral rules, legal cases, their transitions and documents

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
