"""The few SQL spellings that differ between SQLite and PostgreSQL; everything else is shared."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Date, TextClause, bindparam, text


@dataclass(frozen=True)
class Dialect:
    name: str

    @classmethod
    def of(cls, conn: Connection) -> Dialect:
        return cls(conn.dialect.name)

    @property
    def sqlite(self) -> bool:
        return self.name == "sqlite"

    def days_between(self, later: str, earlier: str) -> str:
        """Whole days from earlier to later (both date expressions)."""
        if self.sqlite:
            return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
        return f"(CAST({later} AS DATE) - CAST({earlier} AS DATE))"

    def add_days(self, day: str, days: str) -> str:
        if self.sqlite:
            return f"date({day}, ({days}) || ' days')"
        return f"(CAST({day} AS DATE) + ({days}))"

    def least(self, *args: str) -> str:
        return f"{'min' if self.sqlite else 'LEAST'}({', '.join(args)})"

    def greatest(self, *args: str) -> str:
        return f"{'max' if self.sqlite else 'GREATEST'}({', '.join(args)})"

    def distinct(self, a: str, b: str) -> str:
        """a and b differ, a NULL differing from a value and two NULLs equal."""
        return f"({a} IS NOT {b})" if self.sqlite else f"({a} IS DISTINCT FROM {b})"

    def any_distinct(self, pairs: list[tuple[str, str]]) -> str:
        return "(" + " OR ".join(self.distinct(a, b) for a, b in pairs) + ")"

    def among(self, column: str, table: str) -> str:
        """column is one of the ids in `table` (a staged table with an `id` column).

        PostgreSQL takes the ids as one array and walks the column's index once, in key order,
        for all of them: a join to the staged table was planned either as a hash of every row
        of the table read or, with hash joins turned off, as loops nested around the
        statement's other parts."""
        if self.sqlite:
            return f"{column} IN (SELECT id FROM {table})"
        return f"{column} = ANY(ARRAY(SELECT id FROM {table}))"

    def date_param(self, name: str) -> str:
        return f":{name}" if self.sqlite else f"CAST(:{name} AS DATE)"


def dated(sql: str, *names: str) -> TextClause:
    """A text statement whose date parameters are typed, so both drivers bind them right."""
    return text(sql).bindparams(*(bindparam(n, type_=Date) for n in names))


@contextmanager
def planner(conn: Connection, **settings: str) -> Iterator[None]:
    """PostgreSQL planner settings for the statements inside, restored after (SQLite: nothing).

    The daily run's statements over the few accounts that changed are index look-ups; the
    planner's default cost of a random read (a spinning disk's) and its JIT compiler (seconds
    for a sub-second statement) would otherwise turn them into scans of the whole portfolio.
    On an error the transaction rolls back, and its settings with it.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    before = {
        name: conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar_one()
        for name in settings
    }
    for name, value in settings.items():
        conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    yield
    for name, value in before.items():
        conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


# A temporary table of the run is analysed from a small sample: the planner needs its row count
# and the rough spread of its keys, and the default sample (30,000 rows, every column) took
# 90 ms of a 40,000-row table of the gate's candidates, 10 ms this way. The tables of the
# database keep the server's default.
TEMPORARY_STATISTICS_TARGET = "10"


def analyze_temporary(conn: Connection, *tables: str) -> None:
    """ANALYZE the run's temporary tables on PostgreSQL (SQLite: nothing), from a small sample."""
    if conn.dialect.name != "postgresql":
        return
    with planner(conn, default_statistics_target=TEMPORARY_STATISTICS_TARGET):
        conn.execute(text(f"ANALYZE {', '.join(tables)}"))


@contextmanager
def staged(
    conn: Connection, name: str, select: str, params: dict[str, object] | None = None, *dates: str
) -> Iterator[str]:
    """The rows of `select` in a temporary table for the statements inside; yields its name.

    A statement that reads a table while it writes to it (open the borrowers without an open
    case, insert their cases) makes PostgreSQL rescan the pages it has just written, so its
    cost grows with the square of the rows; gathered first, the write is linear. The table is
    analysed on PostgreSQL (the planner then knows how many rows follow) and dropped after.
    """
    table = f"tmp_{name}"
    conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    conn.execute(dated(f"CREATE TEMPORARY TABLE {table} AS {select}", *dates), params or {})
    analyze_temporary(conn, table)
    yield table  # on an error the transaction rolls back, and the table with it
    conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
