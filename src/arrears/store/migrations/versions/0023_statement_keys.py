"""the night's bulk-written keys checked once per statement on PostgreSQL

Revision ID: 0023
Revises: 0022
"""
# Supersedes the decision of 0017 (keep the keys as they are): the keys of cases.borrower_id,
# strategy_assignments.case_id, actions.case_id, gate_decisions.action_id and outbox.action_id
# are held on PostgreSQL by statement-level triggers (store/statement_keys.py) that check an
# insert's new rows with one anti-join, for every writer; SQLite keeps the declared keys.

from __future__ import annotations

from alembic import op

from arrears.store import statement_keys

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        statement_keys.install(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        statement_keys.uninstall(op.get_bind())
