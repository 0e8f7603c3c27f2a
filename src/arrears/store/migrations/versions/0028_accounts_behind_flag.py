"""accounts: the stored column `behind`, the run's look-ups of the accounts behind indexed on it

Revision ID: 0028
Revises: 0027

`ix_accounts_past_due` and `ix_accounts_in_arrears` were partial indexes on `dpd > 0` and
`overdue_amount > 0`. PostgreSQL writes an updated row in place (a heap-only update, no index
touched) only when no column an index reads changes, its predicate included, and DPD grows every
night an account stays behind: each steady day wrote each such account's new version anywhere
and a new entry into each of its four indexes. Both indexes now read the generated column
`behind` (`dpd > 0 OR overdue_amount > 0`; stored on PostgreSQL, virtual on SQLite, whose ALTER
TABLE cannot add a stored one), which changes only when an account falls behind or catches up.
Adding the column rewrites the table once.
"""

from __future__ import annotations

from alembic import op

# a copy of store/tables.py's of its day (a revision never imports the application's code)
BEHIND = "(dpd > 0 OR overdue_amount > 0)"

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_INDEXES = (("ix_accounts_past_due", "borrower_id"), ("ix_accounts_in_arrears", "id"))
_BEFORE = {"ix_accounts_past_due": "dpd > 0", "ix_accounts_in_arrears": "overdue_amount > 0"}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, _ in _INDEXES:
        op.drop_index(name, table_name="accounts")
    kept = "STORED" if postgres else "VIRTUAL"
    op.execute(
        f"ALTER TABLE accounts ADD COLUMN behind BOOLEAN GENERATED ALWAYS AS {BEHIND} {kept}"
    )
    for name, column in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON accounts ({column}) WHERE behind")


def downgrade() -> None:
    for name, _ in _INDEXES:
        op.drop_index(name, table_name="accounts")
    op.drop_column("accounts", "behind")
    for name, column in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON accounts ({column}) WHERE {_BEFORE[name]}")
