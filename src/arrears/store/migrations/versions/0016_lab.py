"""strategy lab: the nightly scores of open cases

Revision ID: 0016
Revises: 0015

`lab_scores` holds `p_pay_30` and `p_self_cure` per open case and business date, with the
model versions that produced them and a reason list per score.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_scores",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("p_pay_30", sa.Float, nullable=False),
        sa.Column("p_self_cure", sa.Float, nullable=False),
        sa.Column("pay_model", sa.String(64), nullable=False),
        sa.Column("cure_model", sa.String(64), nullable=False),
        sa.Column("pay_reasons", sa.Text, nullable=False),
        sa.Column("cure_reasons", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lab_scores")
