from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import Engine, text


def cli_url(db: Engine) -> str:
    """A URL the command line can open on the same database (and PostgreSQL schema)."""
    if db.dialect.name == "sqlite":
        return str(db.url)
    with db.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    url = db.url.render_as_string(hide_password=False)
    return f"{url}?options={quote(f'-csearch_path={schema}')}"
