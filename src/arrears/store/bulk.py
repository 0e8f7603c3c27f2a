"""Many rows into one table inside the caller's transaction: `COPY … FROM STDIN` on PostgreSQL
(no statement to parse and bind per row, as even a pipelined `executemany` has), one
`executemany` elsewhere; id lists as one array parameter; one row written or replaced by its
key (`upsert`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from sqlalchemy import ARRAY, Column, Connection, MetaData, Table, any_, bindparam, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

# below this many rows the COPY's own round trips are not worth it
COPY_FROM = 32


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (all naming the same columns) into `table`; nothing for no rows."""
    if not rows:
        return
    columns = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):
        raise ValueError(f"rows for {table.name} name different columns")
    if conn.dialect.name != "postgresql" or len(rows) < COPY_FROM:
        conn.execute(insert(table), list(rows))
        return
    insert_values(conn, table, columns, [[row[name] for name in columns] for row in rows])


def insert_values(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert `rows`, each the values of `columns` in that order, into `table` (no mapping
    made per row: a night's hundreds of thousands of narrow rows)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) < COPY_FROM:
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    target = f"{table.schema}.{table.name}" if table.schema else table.name
    names = ", ".join(f'"{name}"' for name in columns)
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([_plain(value) for value in row])


def _plain(value: Any) -> Any:
    # StrEnum and friends: COPY writes the value, as a bound parameter would
    return value.value if isinstance(value, Enum) else value


def among(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(:array)`, one parameter that the server
    reads faster than hundreds of separate ones."""
    result: ColumnElement[bool]
    if conn.dialect.name == "postgresql":
        result = column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    else:
        result = column.in_(list(values))
    return result


def upsert(conn: Connection, table: Table, keys: Sequence[str], values: Mapping[str, Any]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE — one statement on both databases."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values)
    changes = {k: stmt.excluded[k] for k in values if k not in keys}
    if changes:
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))
    else:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=list(keys)))


def temporary_table(conn: Connection, name: str, *columns: Column[Any]) -> Table:
    """An empty temporary table of these columns (a former one of the name dropped first)."""
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    table.create(conn)
    return table
