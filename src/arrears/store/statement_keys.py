"""Foreign keys that PostgreSQL checks once per statement instead of once per row.

The daily run inserts tens of thousands of rows into a few tables at a time (cases, their
strategy assignments, actions, the gate's decisions, the outbox). A foreign key checks each row
on its own: a look-up in the referenced table and a row lock on the referenced row, one query
per row; on a first day that was over a third of the run (docs/scaling.md). For the keys listed
here PostgreSQL holds the same rule with triggers instead:

- an insert into the referencing table is checked by one anti-join of the statement's new rows
  (a transition table) against the referenced table;
- an update that changes the referencing column is checked for that row;
- a delete from the referenced table, or a change of its key, is refused while a row refers to
  it (the referencing column is indexed: one look-up per statement or per changed row).

The error is the one a foreign key raises (SQLSTATE 23503, the constraint's name), so callers see
the same `IntegrityError`. What a trigger does not take is the referenced row's lock: a
transaction deleting a referenced row at the same moment as another inserts a row referring to
it could both commit. No writer deletes cases, actions or borrowers (they are kept; retention
anonymises a borrower in place, docs/privacy.md), so the rule holds for every writer there is.

SQLite keeps the declared keys (its checks are in-process and cheap). The metadata declares the
keys for both; on PostgreSQL `install` replaces them, from the migration and from `create_all`.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, MetaData, event


class StatementKey(NamedTuple):
    table: str
    column: str
    referred: str
    referred_column: str

    @property
    def name(self) -> str:
        """The foreign key's name (the naming convention's), kept in the error."""
        return f"fk_{self.table}_{self.column}_{self.referred}"


KEYS = (
    StatementKey("cases", "borrower_id", "borrowers", "id"),
    StatementKey("strategy_assignments", "case_id", "cases", "id"),
    StatementKey("actions", "case_id", "cases", "id"),
    StatementKey("gate_decisions", "action_id", "actions", "id"),
    StatementKey("outbox", "action_id", "actions", "id"),
)

_RAISE_MISSING = """
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                TG_ARGV[0], TG_ARGV[4]
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[4],
                      TABLE = TG_ARGV[0],
                      DETAIL = format('Key (%s)=(%s) is not present in table "%s".',
                                      TG_ARGV[1], missing, TG_ARGV[2]);
        END IF;"""

_RAISE_REFERRED = """
        IF referred IS NOT NULL THEN
            RAISE EXCEPTION
                'update or delete on table "%" violates foreign key constraint "%" on table "%"',
                TG_ARGV[2], TG_ARGV[4], TG_ARGV[0]
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[4],
                      TABLE = TG_ARGV[2],
                      DETAIL = format('Key (%s)=(%s) is still referenced from table "%s".',
                                      TG_ARGV[3], referred, TG_ARGV[0]);
        END IF;"""

# TG_ARGV: table, column, referred table, referred column, constraint name
FUNCTIONS = {
    "arrears_key_new_rows": f"""
        DECLARE missing text;
        BEGIN
            EXECUTE format('SELECT n.%2$I::text FROM key_new n WHERE n.%2$I IS NOT NULL
                            AND NOT EXISTS (SELECT 1 FROM %3$I r WHERE r.%4$I = n.%2$I)
                            LIMIT 1', TG_ARGV[0], TG_ARGV[1], TG_ARGV[2], TG_ARGV[3])
                INTO missing;{_RAISE_MISSING}
            RETURN NULL;
        END""",
    "arrears_key_new_value": f"""
        DECLARE missing text;
        BEGIN
            EXECUTE format('SELECT %3$L WHERE NOT EXISTS
                            (SELECT 1 FROM %1$I r WHERE r.%2$I = %3$L)',
                           TG_ARGV[2], TG_ARGV[3], to_jsonb(NEW) ->> TG_ARGV[1])
                INTO missing;{_RAISE_MISSING}
            RETURN NULL;
        END""",
    "arrears_key_old_rows": f"""
        DECLARE referred text;
        BEGIN
            EXECUTE format('SELECT o.%4$I::text FROM key_old o
                            WHERE EXISTS (SELECT 1 FROM %1$I c WHERE c.%2$I = o.%4$I)
                            LIMIT 1', TG_ARGV[0], TG_ARGV[1], TG_ARGV[2], TG_ARGV[3])
                INTO referred;{_RAISE_REFERRED}
            RETURN NULL;
        END""",
    "arrears_key_old_value": f"""
        DECLARE referred text;
        BEGIN
            EXECUTE format('SELECT %3$L WHERE EXISTS
                            (SELECT 1 FROM %1$I c WHERE c.%2$I = %3$L)',
                           TG_ARGV[0], TG_ARGV[1], to_jsonb(OLD) ->> TG_ARGV[3])
                INTO referred;{_RAISE_REFERRED}
            RETURN NULL;
        END""",
}


def _triggers(key: StatementKey) -> list[tuple[str, str, str]]:
    """(name, table, definition) of each trigger that holds `key`."""
    args = ", ".join(
        f"'{a}'" for a in (key.table, key.column, key.referred, key.referred_column, key.name)
    )
    stem = f"key_{key.table}_{key.column}"
    col, ref = key.column, key.referred_column
    return [
        (
            f"{stem}_insert",
            key.table,
            f"""AFTER INSERT ON {key.table} REFERENCING NEW TABLE AS key_new FOR EACH STATEMENT
                EXECUTE FUNCTION arrears_key_new_rows({args})""",
        ),
        (
            f"{stem}_update",
            key.table,
            f"""AFTER UPDATE OF {col} ON {key.table} FOR EACH ROW
                WHEN (NEW.{col} IS DISTINCT FROM OLD.{col} AND NEW.{col} IS NOT NULL)
                EXECUTE FUNCTION arrears_key_new_value({args})""",
        ),
        (
            f"{stem}_delete",
            key.referred,
            f"""AFTER DELETE ON {key.referred} REFERENCING OLD TABLE AS key_old FOR EACH STATEMENT
                EXECUTE FUNCTION arrears_key_old_rows({args})""",
        ),
        (
            f"{stem}_rekey",
            key.referred,
            f"""AFTER UPDATE OF {ref} ON {key.referred} FOR EACH ROW
                WHEN (NEW.{ref} IS DISTINCT FROM OLD.{ref})
                EXECUTE FUNCTION arrears_key_old_value({args})""",
        ),
    ]


def _install_sql() -> list[str]:
    """The statements that replace each listed foreign key by its triggers."""
    statements = [
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql"
        f" AS $body${body}$body$"
        for name, body in FUNCTIONS.items()
    ]
    for key in KEYS:
        statements.append(f"ALTER TABLE {key.table} DROP CONSTRAINT IF EXISTS {key.name}")
        statements += [f"CREATE TRIGGER {name} {made}" for name, _, made in _triggers(key)]
    return statements


def _uninstall_sql() -> list[str]:
    """The foreign keys back, the triggers and their functions gone."""
    statements = []
    for key in KEYS:
        statements += [f"DROP TRIGGER IF EXISTS {name} ON {on}" for name, on, _ in _triggers(key)]
        statements.append(
            f"ALTER TABLE {key.table} ADD CONSTRAINT {key.name} FOREIGN KEY ({key.column})"
            f" REFERENCES {key.referred} ({key.referred_column})"
        )
    statements += [f"DROP FUNCTION IF EXISTS {name}()" for name in FUNCTIONS]
    return statements


def _execute(conn: Connection, statements: list[str]) -> None:
    for statement in statements:  # the driver reads % as a placeholder's mark
        conn.exec_driver_sql(statement.replace("%", "%%"))


def install(conn: Connection) -> None:
    """PostgreSQL: replace each listed foreign key by its triggers."""
    _execute(conn, _install_sql())


def uninstall(conn: Connection) -> None:
    """PostgreSQL: the foreign keys back, the triggers and their functions gone."""
    _execute(conn, _uninstall_sql())


def is_statement_key(table: str, columns: list[str], referred: str) -> bool:
    """This foreign key is held by triggers on PostgreSQL (for the schema comparison)."""
    return any((k.table, [k.column], k.referred) == (table, columns, referred) for k in KEYS)


def listen(metadata: MetaData) -> None:
    """`create_all` on PostgreSQL builds the keys as the migration does."""

    def replace_keys(target: MetaData, connection: Connection, **_: object) -> None:
        if connection.dialect.name == "postgresql":
            install(connection)

    event.listen(metadata, "after_create", replace_keys)
