"""actions: the gate's decision at planning written on the action itself

Revision ID: 0032
Revises: 0031

The nightly gate wrote, besides each action, a narrow `gate_decisions` row naming the action's
ruling, its business date, stage ('plan'), verdict and rule — most of which the action itself
holds (its date, its status, its rule). An action is planned and judged at planning once, so
the ruling now goes on the action (`actions.ruling_id`) as it is written, and `gate_decisions`
keeps the later stages (send, dial, carry), a few rows a day. On the first day of 20,000 cases
the night wrote 40,000 such rows, 0.17 s of its 2.6 s.

The plan-stage rows recorded before move onto their actions (the latest, should an action have
two) and leave `gate_decisions`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("actions", sa.Column("ruling_id", sa.Integer()))
    op.execute(
        """UPDATE actions SET ruling_id = (
               SELECT g.ruling_id FROM gate_decisions g
               WHERE g.action_id = actions.id AND g.stage = 'plan'
               ORDER BY g.id DESC LIMIT 1)
           WHERE EXISTS (SELECT 1 FROM gate_decisions g
                         WHERE g.action_id = actions.id AND g.stage = 'plan')"""
    )
    op.execute("DELETE FROM gate_decisions WHERE stage = 'plan'")


def downgrade() -> None:
    op.execute(
        """INSERT INTO gate_decisions (action_id, ruling_id, business_date, stage, verdict,
                                       rule_id)
           SELECT a.id, r.id, r.business_date, r.stage, r.verdict, r.rule_id
           FROM actions a JOIN gate_rulings r ON r.id = a.ruling_id
           ORDER BY a.id"""
    )
    op.execute("ALTER TABLE actions DROP COLUMN ruling_id")  # SQLite 3.35 and later too
