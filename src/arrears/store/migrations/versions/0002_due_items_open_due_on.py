"""due items: unpaid items found by an expression index of their due date

Revision ID: 0002
Revises: 0001

The partial index `ix_due_items_open (due_on, account_id) WHERE <unpaid>` gives way to
`ix_due_items_open_due_on ((CASE WHEN <unpaid> THEN due_on END))`: on PostgreSQL a full expression
index, whose statistics tell the planner how few unpaid items are already due; on SQLite the
same expression, partial on the unpaid items. The daily run's queries repeat these expressions
word for word.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# copies of the expressions of their day (a revision never imports the application's code)
OPEN_ITEM = (
    "(principal > paid_principal OR interest > paid_interest OR fee > paid_fee"
    " OR penalty > paid_penalty)"
)
OPEN_DUE_ON = f"(CASE WHEN {OPEN_ITEM} THEN due_on END)"

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF [NOT] EXISTS: a database built before 0001 was explicit (when 0001 created whatever the
    # tables then declared) may already have either index
    op.drop_index("ix_due_items_open", table_name="due_items", if_exists=True)
    op.create_index(
        "ix_due_items_open_due_on",
        "due_items",
        [sa.text(OPEN_DUE_ON)],
        unique=False,
        sqlite_where=sa.text(OPEN_ITEM),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_due_items_open_due_on", table_name="due_items")
    op.create_index(
        "ix_due_items_open",
        "due_items",
        ["due_on", "account_id"],
        unique=False,
        sqlite_where=sa.text(OPEN_ITEM),
        postgresql_where=sa.text(OPEN_ITEM),
    )
