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

from app.db import DatabaseSetupError, one_connection, sqlite_path
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


def created_marker(path: Path) -> Path:
    """Left beside a SQLite database the first time it is created: from then on, a missing database
    is an accident (a file moved away, a volume not mounted), never a reason to start empty."""
    return path.with_name(f".{path.name}.created")


def _refuse_missing(settings: Settings) -> Path | None:
    path = sqlite_path(settings.url)
    if path is None:
        return None
    marker = created_marker(path)
    if not path.exists() and marker.exists():
        raise DatabaseSetupError(
            f"the database {path} is missing, but this volume held one ({marker} is there): not creating an "
            f"empty one. Restore a backup, or remove {marker} to start afresh on purpose"
        )
    return marker


def upgrade(settings: Settings, revision: str = "head") -> str | None:
    marker = _refuse_missing(settings)
    with one_connection(settings) as connection:
        config = alembic_config(settings)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()
        current = current_revision(connection)
    if marker is not None and not marker.exists():
        marker.touch()
    return current


def known_revisions() -> set[str]:
    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def schema_problem(settings: Settings) -> str:
    """Without migrating: "" when this release may serve the database as it is (at this release's
    head, or ahead of it: a newer release migrated, and migrations stay backward compatible for one
    release), else why not (never migrated, or behind: the deploy's migration has not run)."""
    _refuse_missing(settings)
    with one_connection(settings) as connection:
        current = current_revision(connection)
    head = head_revision()
    if current is None:
        return f"the database has no schema revision; this release needs {head}"
    if current != head and current in known_revisions():
        return f"the database is at schema revision {current}, behind this release's {head}"
    return ""


def describe(settings: Settings) -> str:
    return settings.url.render_as_string(hide_password=True)


def main(check_only: bool = False) -> int:
    """Migrate (or with check_only, only check that this release may serve the schema as it is)."""
    try:
        settings = load_settings(env_file=Path(".env"))
    except SettingsError as exc:
        print(f"migrate: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        if check_only:
            problem = schema_problem(settings)
            if problem:
                print(
                    f"migrate: error: {problem} (MIGRATE_ON_START is false: migrate once with "
                    "`python -m app.migrate`, as deploy.yml does before the first host switches)",
                    file=sys.stderr,
                )
                return 1
            print(
                f"migrate: {describe(settings)} serves as it is (MIGRATE_ON_START is false)", file=sys.stderr
            )
            return 0
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
