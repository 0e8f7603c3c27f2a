"""due items: the open item's due date a stored column, its index on the column

Revision ID: 0025
Revises: 0024

0002 indexed the expression `CASE WHEN <unpaid> THEN due_on END`, which reads `penalty`: every
night's accrual changed an indexed value, so PostgreSQL wrote each accruing item's new version
anywhere and a new entry into each of its three indexes — at ten million accounts, 1.2 million
items rewritten in 132 s, mostly random index pages. The expression is now the generated column
`open_due_on` (stored on PostgreSQL, virtual on SQLite, whose ALTER TABLE cannot add a stored
one), indexed where it is set. An accrual leaves it unchanged, and with a tenth of each page left
free (fill factor 90, applied by the rewrite that adds the column) the new version stays on its
page without touching an index. Adding the column rewrites the table once.
"""

from __future__ import annotations

from alembic import op

# copies of the expressions of their day (a revision never imports the application's code)
OPEN_ITEM = (
    "(principal > paid_principal OR interest > paid_interest OR fee > paid_fee"
    " OR penalty > paid_penalty)"
)
OPEN_DUE_ON = f"(CASE WHEN {OPEN_ITEM} THEN due_on END)"

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_due_items_open_due_on", table_name="due_items")
    if postgres:
        op.execute("ALTER TABLE due_items SET (fillfactor = 90)")
    kept = "STORED" if postgres else "VIRTUAL"
    op.execute(
        f"ALTER TABLE due_items ADD COLUMN open_due_on DATE"
        f" GENERATED ALWAYS AS {OPEN_DUE_ON} {kept}"
    )
    op.execute(
        "CREATE INDEX ix_due_items_open_due_on ON due_items (open_due_on)"
        " WHERE open_due_on IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_due_items_open_due_on", table_name="due_items")
    op.drop_column("due_items", "open_due_on")
    where = " WHERE " + OPEN_ITEM if op.get_bind().dialect.name == "sqlite" else ""
    op.execute(f"CREATE INDEX ix_due_items_open_due_on ON due_items ({OPEN_DUE_ON}){where}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE due_items RESET (fillfactor)")
