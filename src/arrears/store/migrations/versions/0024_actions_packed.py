"""actions: pages filled again, and the index the unique key already serves dropped

Revision ID: 0024
Revises: 0023

0010 left half of each page of `actions` free so that the gate's update of a row just planned
stayed on its page. The gate no longer updates the night's rows — it writes each action once,
already decided (store/staged_actions.py) — and every later update of an action changes its
status, which is indexed, so it never stays on its page anyway: the free half only doubled the
pages each night writes. `ix_web_actions_case_date` (case_id, business_date) is the first two
columns of the actions' unique key, whose index serves the same look-ups; every insert
maintained both.
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_web_actions_case_date", table_name="actions")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE actions RESET (fillfactor)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE actions SET (fillfactor = 50)")
    op.create_index("ix_web_actions_case_date", "actions", ["case_id", "business_date"])
