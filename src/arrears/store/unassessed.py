"""What the writers of accounts and items leave the night: the figures new items bring, and the
accounts to assess again.

The daily run assesses the accounts whose figures the date can change (an item falling due, a
payment, a plan, an account already behind) and the accounts queued in `unassessed_accounts`.
Everything else an account's figures follow is written by whoever writes its items:

- An item inserted adds what it owes to its account's `outstanding` (and makes the account
  `paid_off` or `active` by it, as the assessment would; charged-off and sold accounts keep
  theirs). So an account loaded with nothing due yet has its figures — DPD 0, nothing overdue,
  the outstanding of its items — without the night reading it; a book's first day assesses the
  accounts already behind, not the whole book (Tryton's dunning run reads only the overdue lines
  too). An item due before the day and unpaid is found by the night through `open_due_on`.
- An account whose items changed otherwise (an upsert of a stored item, a rescheduling, a
  settlement) has its `state_as_of` set to NULL (`delinquency.reassess`): a trigger queues it and
  the night assesses it from its items. It was an index on `state_as_of IS NULL`; but
  PostgreSQL writes a row in place (heap-only: its new version on its own page, no index entry)
  only when no index reads a column that changed, and the assessment sets `state_as_of`.

Triggers, so that every writer keeps to it (an import, the API, a bulk COPY, a test's insert);
on PostgreSQL the item trigger takes a statement's rows at once, so a load of millions pays one
set-based UPDATE. The assessment takes the assessed ids out of the queue
(`delinquency.dequeue_assessed`). Half of each page of `accounts` is left free (fill factor
50), so that an account whose DPD and overdue amount stay at zero is updated in place.

The same statements are in migrations 0026 and 0027 (a revision never imports the
application's code); `create_all` builds them through `listen`.
"""

from __future__ import annotations

from sqlalchemy import Connection, MetaData, event

FILL_FACTOR = 50
ITEM_TRIGGER = "tr_due_items_inserted_owed"


def _owed(row: str) -> str:
    """What an item owes (`row`: the prefix of its columns)."""
    parts = " - ".join(f"{row}paid_{p}" for p in ("principal", "interest", "fee", "penalty"))
    return f"({row}principal + {row}interest + {row}fee + {row}penalty - {parts})"


# what the assessment writes of an account with nothing overdue, given its new outstanding
_ADD_OWED = (
    "outstanding = outstanding + {owed},"
    " status = CASE WHEN outstanding + {owed} <= 0 THEN 'paid_off' ELSE 'active' END"
)
_KEEPS_STATUS = "status NOT IN ('charged_off', 'sold')"

_ADD_INSERTED_OWED = (
    "CREATE OR REPLACE FUNCTION add_inserted_items_owed() RETURNS trigger LANGUAGE plpgsql"
    " AS $body$BEGIN"
    f" UPDATE accounts SET {_ADD_OWED.format(owed='n.owed')}"
    f" FROM (SELECT account_id, SUM({_owed('')}) AS owed FROM inserted_items GROUP BY account_id) n"
    f" WHERE accounts.id = n.account_id AND accounts.{_KEEPS_STATUS};"
    " RETURN NULL; END$body$"
)
_QUEUE_RESET = (
    "CREATE OR REPLACE FUNCTION queue_reset_unassessed() RETURNS trigger LANGUAGE plpgsql"
    " AS $body$BEGIN"
    " INSERT INTO unassessed_accounts (account_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;"
    " RETURN NULL; END$body$"
)
POSTGRESQL = (
    _ADD_INSERTED_OWED,
    _QUEUE_RESET,
    # one statement's rows at once (a bulk load of millions), not a call per row
    f"CREATE TRIGGER {ITEM_TRIGGER} AFTER INSERT ON due_items"
    " REFERENCING NEW TABLE AS inserted_items"
    " FOR EACH STATEMENT EXECUTE FUNCTION add_inserted_items_owed()",
    # per row, but only a row set to NULL is queued: the night's writes queue nothing
    "CREATE TRIGGER tr_accounts_reset_unassessed AFTER UPDATE OF state_as_of ON accounts"
    " FOR EACH ROW WHEN (NEW.state_as_of IS NULL) EXECUTE FUNCTION queue_reset_unassessed()",
    f"ALTER TABLE accounts SET (fillfactor = {FILL_FACTOR})",
)
SQLITE = (
    f"CREATE TRIGGER {ITEM_TRIGGER} AFTER INSERT ON due_items BEGIN"
    f" UPDATE accounts SET {_ADD_OWED.format(owed=_owed('NEW.'))}"
    f" WHERE id = NEW.account_id AND {_KEEPS_STATUS}; END",
    "CREATE TRIGGER tr_accounts_reset_unassessed AFTER UPDATE OF state_as_of ON accounts"
    " WHEN NEW.state_as_of IS NULL BEGIN"
    " INSERT OR IGNORE INTO unassessed_accounts (account_id) VALUES (NEW.id); END",
)


def install(conn: Connection) -> None:
    """The triggers (and, on PostgreSQL, the room left on each page)."""
    for statement in POSTGRESQL if conn.dialect.name == "postgresql" else SQLITE:
        conn.exec_driver_sql(statement)


def listen(metadata: MetaData) -> None:
    """`create_all` installs the triggers, as the migrations do."""

    def triggers(target: MetaData, connection: Connection, **_: object) -> None:
        install(connection)

    event.listen(metadata, "after_create", triggers)
