"""gate rulings: a decision's content once per kind, a narrow gate_decisions row per action

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
