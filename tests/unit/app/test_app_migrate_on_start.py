"""MIGRATE_ON_START=false (several hosts on one database, migrated once by the deploy): the server
serves a schema at its own head or ahead of it (a rollback after a newer release migrated), and
refuses one that is behind or was never migrated, saying how to migrate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from sqlalchemy import text

from app.db import make_engine
from app.migrate import alembic_config, head_revision, schema_problem, upgrade

REPO = Path(__file__).resolve().parents[3]


def _check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m app.serve`'s first step as the container runs it, stopped before uvicorn starts."""
    code = "import sys; from app import migrate; sys.exit(migrate.main(check_only=True))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "SECRET_KEY": "x" * 40, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_default_is_to_migrate(make_settings) -> None:
    assert make_settings().migrate_on_start is True
    assert make_settings(MIGRATE_ON_START="false").migrate_on_start is False


def test_a_schema_at_head_serves_as_it_is(make_settings) -> None:
    settings = make_settings(MIGRATE_ON_START="false")
    upgrade(settings)
    assert schema_problem(settings) == ""


def test_a_schema_behind_the_release_is_refused(make_settings) -> None:
    settings = make_settings(MIGRATE_ON_START="false")
    upgrade(settings, "0001")
    assert (
        schema_problem(settings)
        == f"the database is at schema revision 0001, behind this release's {head_revision()}"
    )


def test_a_schema_ahead_of_the_release_serves(make_settings, tmp_path: Path) -> None:
    """A newer release migrated (expand), then this one came back (rollback): it serves."""
    settings = make_settings(MIGRATE_ON_START="false")
    upgrade(settings)
    engine = make_engine(settings)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'"))
    finally:
        engine.dispose()
    assert schema_problem(settings) == ""


def test_a_database_never_migrated_is_refused_by_the_server_with_the_way_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/data/app.db"
    refused = _check(tmp_path, DATABASE_URL=url, MIGRATE_ON_START="false")
    assert refused.returncode == 1, refused.stderr
    assert "has no schema revision" in refused.stderr
    assert "migrate once with `python -m app.migrate`" in refused.stderr


def test_the_server_check_passes_at_head(tmp_path: Path, make_settings) -> None:
    upgrade(make_settings())
    done = _check(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/data/app.db", MIGRATE_ON_START="false")
    assert done.returncode == 0, done.stderr
    assert "serves as it is" in done.stderr


def test_downgrade_leaves_a_known_older_revision(make_settings) -> None:
    """The rule's other half, in alembic's own terms: a known older revision counts as behind."""
    settings = make_settings(MIGRATE_ON_START="false")
    upgrade(settings)
    config = alembic_config(settings)
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
            connection.commit()
    finally:
        engine.dispose()
    assert "behind" in schema_problem(settings)
