from __future__ import annotations

from alembic import context

from arrears.store.migrate import compare_options, drop_rewritten_expression_indexes
from arrears.store.schema import metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        process_revision_directives=drop_rewritten_expression_indexes,
        **compare_options(connection.dialect.name),
    )
    context.run_migrations()
