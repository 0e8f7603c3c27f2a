"""The accounts waiting to be assessed: never assessed, or asked to be assessed again.

The daily run assesses an account whose `state_as_of` is NULL. It found those accounts through a
partial index on `state_as_of IS NULL`; but PostgreSQL writes a row in place (heap-only: its new
version on its own page, no index entry) only when no index reads a column that changed, and a
book's first day changes `state_as_of` on every account — ten million new versions, each with a
new entry in every index of `accounts`. The ids wait in `unassessed_accounts` instead, put there
by triggers on `accounts`, whoever the writer (an import, the API, a test's insert, a run that
releases an account from quarantine): an account inserted without a state, or whose state is
set to NULL. The assessment takes them out once assessed (`delinquency.dequeue_assessed`).
With that index gone and half of each page of `accounts` left free (fill factor 50), an
account whose DPD and overdue amount stay at zero is updated in place.

The same statements are in migration 0026 (a revision never imports the application's code);
`create_all` builds them through `listen`.
"""

from __future__ import annotations

from sqlalchemy import Connection, MetaData, event

FILL_FACTOR = 50

_QUEUE_INSERTED = (
    "CREATE OR REPLACE FUNCTION queue_inserted_unassessed() RETURNS trigger LANGUAGE plpgsql"
    " AS $body$BEGIN"
    " INSERT INTO unassessed_accounts (account_id)"
    " SELECT id FROM inserted_accounts WHERE state_as_of IS NULL ON CONFLICT DO NOTHING;"
    " RETURN NULL; END$body$"
)
_QUEUE_RESET = (
    "CREATE OR REPLACE FUNCTION queue_reset_unassessed() RETURNS trigger LANGUAGE plpgsql"
    " AS $body$BEGIN"
    " INSERT INTO unassessed_accounts (account_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;"
    " RETURN NULL; END$body$"
)
POSTGRESQL = (
    _QUEUE_INSERTED,
    _QUEUE_RESET,
    # one statement's rows at once (a bulk load of millions), not a call per row
    "CREATE TRIGGER tr_accounts_inserted_unassessed AFTER INSERT ON accounts"
    " REFERENCING NEW TABLE AS inserted_accounts"
    " FOR EACH STATEMENT EXECUTE FUNCTION queue_inserted_unassessed()",
    # per row, but only a row set to NULL is queued: the night's writes queue nothing
    "CREATE TRIGGER tr_accounts_reset_unassessed AFTER UPDATE OF state_as_of ON accounts"
    " FOR EACH ROW WHEN (NEW.state_as_of IS NULL) EXECUTE FUNCTION queue_reset_unassessed()",
    f"ALTER TABLE accounts SET (fillfactor = {FILL_FACTOR})",
)


def _sqlite_trigger(name: str, when: str) -> str:
    return (
        f"CREATE TRIGGER {name} AFTER {when} ON accounts WHEN NEW.state_as_of IS NULL BEGIN"
        " INSERT OR IGNORE INTO unassessed_accounts (account_id) VALUES (NEW.id); END"
    )


SQLITE = (
    _sqlite_trigger("tr_accounts_inserted_unassessed", "INSERT"),
    _sqlite_trigger("tr_accounts_reset_unassessed", "UPDATE OF state_as_of"),
)


def install(conn: Connection) -> None:
    """The triggers that fill the queue (and, on PostgreSQL, the room left on each page)."""
    for statement in POSTGRESQL if conn.dialect.name == "postgresql" else SQLITE:
        conn.exec_driver_sql(statement)


def listen(metadata: MetaData) -> None:
    """`create_all` installs the triggers, as the migration does."""

    def triggers(target: MetaData, connection: Connection, **_: object) -> None:
        install(connection)

    event.listen(metadata, "after_create", triggers)
