"""an inserted due item adds what it owes to its account; a new account is not queued

Revision ID: 0027
Revises: 0026

An account inserted without a state was queued to be assessed, so a book's first day read and
wrote every account, though an account with nothing due yet has no figure the date can change:
DPD 0, nothing overdue, the outstanding of its items. The outstanding now follows the items as
they are inserted (a statement-level trigger on PostgreSQL, one UPDATE for a whole load; a row
trigger on SQLite), and the trigger that queued inserted accounts goes; an account whose state is
set back to NULL is still queued. Accounts already queued stay queued and are assessed by the
next night as before.
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# copies of store/unassessed.py of their day (a revision never imports the application's code)
_OWED = (
    "({r}principal + {r}interest + {r}fee + {r}penalty - {r}paid_principal - {r}paid_interest"
    " - {r}paid_fee - {r}paid_penalty)"
)
_ADD_OWED = (
    "outstanding = outstanding + {owed},"
    " status = CASE WHEN outstanding + {owed} <= 0 THEN 'paid_off' ELSE 'active' END"
)
POSTGRESQL = (
    "CREATE OR REPLACE FUNCTION add_inserted_items_owed() RETURNS trigger LANGUAGE plpgsql"
    " AS $body$BEGIN"
    f" UPDATE accounts SET {_ADD_OWED.format(owed='n.owed')}"
    f" FROM (SELECT account_id, SUM({_OWED.format(r='')}) AS owed FROM inserted_items"
    " GROUP BY account_id) n"
    " WHERE accounts.id = n.account_id AND accounts.status NOT IN ('charged_off', 'sold');"
    " RETURN NULL; END$body$",
    "CREATE TRIGGER tr_due_items_inserted_owed AFTER INSERT ON due_items"
    " REFERENCING NEW TABLE AS inserted_items"
    " FOR EACH STATEMENT EXECUTE FUNCTION add_inserted_items_owed()",
    "DROP TRIGGER tr_accounts_inserted_unassessed ON accounts",
    "DROP FUNCTION queue_inserted_unassessed()",
)
SQLITE = (
    "CREATE TRIGGER tr_due_items_inserted_owed AFTER INSERT ON due_items BEGIN"
    f" UPDATE accounts SET {_ADD_OWED.format(owed=_OWED.format(r='NEW.'))}"
    " WHERE id = NEW.account_id AND status NOT IN ('charged_off', 'sold'); END",
    "DROP TRIGGER tr_accounts_inserted_unassessed",
)
# as migration 0026 made them
DOWN_POSTGRESQL = (
    "CREATE OR REPLACE FUNCTION queue_inserted_unassessed() RETURNS trigger LANGUAGE plpgsql"
    " AS $body$BEGIN"
    " INSERT INTO unassessed_accounts (account_id)"
    " SELECT id FROM inserted_accounts WHERE state_as_of IS NULL ON CONFLICT DO NOTHING;"
    " RETURN NULL; END$body$",
    "CREATE TRIGGER tr_accounts_inserted_unassessed AFTER INSERT ON accounts"
    " REFERENCING NEW TABLE AS inserted_accounts"
    " FOR EACH STATEMENT EXECUTE FUNCTION queue_inserted_unassessed()",
    "DROP TRIGGER tr_due_items_inserted_owed ON due_items",
    "DROP FUNCTION add_inserted_items_owed()",
)
DOWN_SQLITE = (
    "CREATE TRIGGER tr_accounts_inserted_unassessed AFTER INSERT ON accounts"
    " WHEN NEW.state_as_of IS NULL BEGIN"
    " INSERT OR IGNORE INTO unassessed_accounts (account_id) VALUES (NEW.id); END",
    "DROP TRIGGER tr_due_items_inserted_owed",
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    for statement in POSTGRESQL if _postgres() else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWN_POSTGRESQL if _postgres() else DOWN_SQLITE:
        op.execute(statement)
