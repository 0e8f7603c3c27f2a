"""accounts to assess: a queue filled by triggers instead of an index on `state_as_of`

Revision ID: 0026
Revises: 0025

`ix_accounts_unassessed` read `state_as_of`, which the assessment sets on every account it
assesses, so PostgreSQL could never write an assessed account in place: on a book's first day
every account got a new version elsewhere and a new entry in each of its indexes. The ids of the
accounts to assess (`state_as_of IS NULL`) now wait in `unassessed_accounts`, filled by triggers
on `accounts` (an insert without a state, a state set to NULL) and emptied by the assessment;
the index goes. On PostgreSQL `accounts` leaves half of each page free (fill factor 50) for the
new versions: pages written from now on; an existing book's pages take it when the table is
rewritten (`VACUUM FULL accounts`), which is not needed for the steady days.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# copies of store/unassessed.py of their day (a revision never imports the application's code)
POSTGRESQL = (
    "CREATE OR REPLACE FUNCTION queue_inserted_unassessed() RETURNS trigger LANGUAGE plpgsql"
    " AS $body$BEGIN"
    " INSERT INTO unassessed_accounts (account_id)"
    " SELECT id FROM inserted_accounts WHERE state_as_of IS NULL ON CONFLICT DO NOTHING;"
    " RETURN NULL; END$body$",
    "CREATE OR REPLACE FUNCTION queue_reset_unassessed() RETURNS trigger LANGUAGE plpgsql"
    " AS $body$BEGIN"
    " INSERT INTO unassessed_accounts (account_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;"
    " RETURN NULL; END$body$",
    "CREATE TRIGGER tr_accounts_inserted_unassessed AFTER INSERT ON accounts"
    " REFERENCING NEW TABLE AS inserted_accounts"
    " FOR EACH STATEMENT EXECUTE FUNCTION queue_inserted_unassessed()",
    "CREATE TRIGGER tr_accounts_reset_unassessed AFTER UPDATE OF state_as_of ON accounts"
    " FOR EACH ROW WHEN (NEW.state_as_of IS NULL) EXECUTE FUNCTION queue_reset_unassessed()",
    "ALTER TABLE accounts SET (fillfactor = 50)",
)
SQLITE = (
    "CREATE TRIGGER tr_accounts_inserted_unassessed AFTER INSERT ON accounts"
    " WHEN NEW.state_as_of IS NULL BEGIN"
    " INSERT OR IGNORE INTO unassessed_accounts (account_id) VALUES (NEW.id); END",
    "CREATE TRIGGER tr_accounts_reset_unassessed AFTER UPDATE OF state_as_of ON accounts"
    " WHEN NEW.state_as_of IS NULL BEGIN"
    " INSERT OR IGNORE INTO unassessed_accounts (account_id) VALUES (NEW.id); END",
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "unassessed_accounts",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_unassessed_accounts")),
    )
    op.execute(
        "INSERT INTO unassessed_accounts (account_id)"
        " SELECT id FROM accounts WHERE state_as_of IS NULL"
    )
    op.drop_index("ix_accounts_unassessed", table_name="accounts")
    for statement in POSTGRESQL if _postgres() else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    on = " ON accounts" if _postgres() else ""
    for trigger in ("tr_accounts_inserted_unassessed", "tr_accounts_reset_unassessed"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}{on}")
    if _postgres():
        op.execute("DROP FUNCTION IF EXISTS queue_inserted_unassessed()")
        op.execute("DROP FUNCTION IF EXISTS queue_reset_unassessed()")
        op.execute("ALTER TABLE accounts RESET (fillfactor)")
    op.create_index(
        "ix_accounts_unassessed",
        "accounts",
        ["id"],
        sqlite_where=sa.text("state_as_of IS NULL"),
        postgresql_where=sa.text("state_as_of IS NULL"),
    )
    op.drop_table("unassessed_accounts")
