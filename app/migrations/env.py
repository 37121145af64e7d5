"""Alembic environment: the connection (or settings) comes from app.migrate, never from an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from app.db import make_engine
from app.models import metadata
from app.settings import load_settings


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can't ALTER most things in place; batch mode rebuilds tables for it.
        render_as_batch=connection.dialect.name == "sqlite",
        # Our engine issues a real BEGIN on SQLite, so DDL is transactional there too.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:  # plain `alembic -c app/alembic.ini ...` from a developer's shell
    engine = make_engine(context.config.attributes.get("settings") or load_settings())
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
