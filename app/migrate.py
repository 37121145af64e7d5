"""`python -m app.migrate`: bring the schema to the newest revision (run by the entrypoint)."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.db import DatabaseSetupError, make_engine
from app.errors import classify_database_error
from app.logging_setup import configure_logging
from app.settings import Settings, SettingsError, load_settings

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(settings: Settings | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["settings"] = settings
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(settings: Settings, revision: str = "head") -> str | None:
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            config = alembic_config(settings)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
            return current_revision(connection)
    finally:
        engine.dispose()


def describe(settings: Settings) -> str:
    return settings.url.render_as_string(hide_password=True)


def main() -> int:
    try:
        settings = load_settings(env_file=Path(".env"))
    except SettingsError as exc:
        print(f"migrate: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        revision = upgrade(settings)
    except DatabaseSetupError as exc:
        print(f"migrate: error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        problem = classify_database_error(exc)
        print(f"migrate: error: {problem.message} ({problem.code}) at {describe(settings)}", file=sys.stderr)
        return 1
    print(f"migrate: {describe(settings)} at revision {revision}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
