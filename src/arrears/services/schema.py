"""Whether the database's schema is the one this version of the platform needs."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from arrears.store import migrate


def schema_problem(engine: Engine) -> str | None:
    """What is wrong with the database's schema, said so that an operator can act; None when
    it is current (or when the database cannot be reached at all: that error speaks for
    itself)."""
    try:
        current = migrate.current_revision(engine)
    except DBAPIError:
        return None
    head = migrate.head_revision()
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        return (
            f"the database {where} has no arrears schema yet (it was never upgraded); "
            "run `arrears db upgrade` first"
        )
    if current != head:
        return (
            f"the database {where} is at schema revision {current}, this version of arrears "
            f"needs {head}; run `arrears db upgrade`"
        )
    return None


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` of the packaged migrations (default: the newest; a
    no-op when already there): `arrears db upgrade`, and before serving, simulating or rotating
    keys."""
    migrate.upgrade(engine, revision)
