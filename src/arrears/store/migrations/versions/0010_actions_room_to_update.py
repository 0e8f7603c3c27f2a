"""actions: room on each page for the gate's update, and one index fewer to maintain

Revision ID: 0010
Revises: 0009

The daily run inserts the day's actions and the gate then writes each one's moment, rule and
reason. PostgreSQL can keep such an update on the row's own page, without touching any index
(a heap-only update), only if the page has room: with a fill factor of 50 the inserted pages
keep half their space for it. `ix_actions_case_id` goes: the unique key of an action starts
with `case_id`, so look-ups by case use that index, and every insert maintained both.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_actions_case_id", table_name="actions")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE actions SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE actions RESET (fillfactor)")
    op.create_index("ix_actions_case_id", "actions", ["case_id"], unique=False)
