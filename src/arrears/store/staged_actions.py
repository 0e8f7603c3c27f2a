"""The night's planned actions, staged: the daily run plans into a temporary table of the
actions' shape, the gate decides the rows there and writes each action once, already decided
(`compliance/batch.py`).

Why: PostgreSQL checks a row's foreign key again on an UPDATE when the same transaction wrote
the row, so an action planned then gated in one night paid `fk_actions_case_id_cases` twice,
and the gate's UPDATE rewrote every row planned a moment before (docs/scaling.md).

A staged row also carries what the gate reads of its case and borrower (`GATE_COLUMNS`), taken
from the plan's facts, which have them joined already: the gate's candidates are the staged rows
as they are, not each one looked up again by case and by borrower.

A staged row carries the number it will have as an action: drawn from the actions' sequence as
it is planned (PostgreSQL), or given by the gate after its own inserts (carry-overs, validation
notices) on SQLite, whose numbers follow the highest row (`number`). Its decision rows name
that number, and the action is written under it."""

from __future__ import annotations

from sqlalchemy import Connection, text

from arrears.store.sql import Dialect, analyze_temporary

STAGED = "tmp_staged_actions"
KEY = ("case_id", "business_date", "step", "target_type", "target_id", "channel")
# what the gate reads of an action besides its candidate row (`compliance.history.load_counters`)
READ = (
    "id",
    *KEY,
    "template",
    "status",
    "priority",
    "scheduled_at",
)
# what the gate reads of a staged row's case and borrower, named as the plan's facts name them
# (`strategy.compile.row_store_facts_sql`), and their types in the staging table
# (a row staged without them is refused, never decided on nothing)
GATE_COLUMNS = {
    "borrower_id": "VARCHAR(64) NOT NULL",
    "unreachable_on": "DATE",
    "timezone": "VARCHAR(64) NOT NULL",
    "phone_status": "VARCHAR(16) NOT NULL",
    "jurisdiction": "VARCHAR(16)",
    "language": "VARCHAR(16) NOT NULL",
    "phone_index": "VARCHAR(32)",
}


def open_staging(conn: Connection) -> str:
    """An empty staging table for the night's plan; returns its name."""
    sql = Dialect.of(conn)
    next_action = ""
    if not sql.sqlite:  # the sequence named once: as a default, PostgreSQL looked it up per row
        sequence = conn.execute(text("SELECT pg_get_serial_sequence('actions', 'id')")).scalar()
        next_action = f" DEFAULT nextval('{sequence}'::regclass)"
    stamp = "TIMESTAMP" if sql.sqlite else "TIMESTAMPTZ"
    numbered = "AUTOINCREMENT" if sql.sqlite else "GENERATED ALWAYS AS IDENTITY"
    conn.execute(text(f"DROP TABLE IF EXISTS {STAGED}"))
    conn.execute(
        text(
            f"""CREATE TEMPORARY TABLE {STAGED} (
                    pid INTEGER PRIMARY KEY {numbered},
                    id INTEGER{next_action},
                    case_id INTEGER NOT NULL, business_date DATE NOT NULL,
                    step VARCHAR(64) NOT NULL, target_type VARCHAR(16) NOT NULL,
                    target_id VARCHAR(64) NOT NULL, channel VARCHAR(16) NOT NULL,
                    template VARCHAR(64) NOT NULL,
                    status VARCHAR(16) NOT NULL DEFAULT 'planned',
                    priority INTEGER NOT NULL DEFAULT 50,
                    scheduled_at {stamp},
                    {", ".join(f"{name} {kind}" for name, kind in GATE_COLUMNS.items())})"""
        )
    )
    return STAGED


def index_key(conn: Connection, staged: str) -> None:
    """The staged rows' key made unique, for a plan that skips a row planned twice (ON
    CONFLICT); a plan that cannot plan one twice writes without it (40,000 rows: 45 ms less)."""
    conn.execute(
        text(f"CREATE UNIQUE INDEX IF NOT EXISTS ix_{staged}_key ON {staged} ({', '.join(KEY)})")
    )


def close_staging(conn: Connection) -> None:
    conn.execute(text(f"DROP TABLE IF EXISTS {STAGED}"))


def not_planned_yet(alias: str, business_date: str) -> str:
    """SQL: the row `alias` (a planned action's columns) is not an action of the day already
    (the day run again, or a case re-planned by hand earlier): the actions' unique key."""
    same = " AND ".join(
        f"x.{c} = {business_date}" if c == "business_date" else f"x.{c} = {alias}.{c}" for c in KEY
    )
    return f"NOT EXISTS (SELECT 1 FROM actions x WHERE {same})"


def number(conn: Connection, staged: str) -> None:
    """Give each staged row its action number: on PostgreSQL it was drawn from the actions'
    own sequence as it was planned; on SQLite (one writer at a time) the rows follow the
    highest action, in the order planned."""
    if Dialect.of(conn).sqlite:
        conn.execute(
            text(f"UPDATE {staged} SET id = pid + (SELECT COALESCE(MAX(id), 0) FROM actions)")
        )
    else:
        analyze_temporary(conn, staged)


def source(staged: str | None) -> str:
    """The actions the gate reads: the table, and the staged rows with it when there are."""
    if staged is None:
        return "actions"
    cols = ", ".join(READ)
    return f"(SELECT {cols} FROM actions UNION ALL SELECT {cols} FROM {staged})"
