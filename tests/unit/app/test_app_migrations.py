"""Alembic is the only source of schema; the result uses portable types on both engines."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command

from app.db import DatabaseSetupError
from app.migrate import alembic_config, head_revision, upgrade
from app.models import metadata


def _columns(path: Path, table: str) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return {row[1]: row[2] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_upgrade_creates_the_schema_with_portable_types(make_settings, tmp_path: Path) -> None:
    assert upgrade(make_settings()) == head_revision() == "0002"
    columns = _columns(tmp_path / "data" / "app.db", "items")
    assert columns == {
        "id": "VARCHAR(36)",
        "name": "VARCHAR(200)",
        "data": "TEXT",  # not JSON: that type name would give the column NUMERIC affinity
        "created_at": "DATETIME",
        "updated_at": "DATETIME",
    }


def test_upgrade_is_idempotent(make_settings) -> None:
    settings = make_settings()
    assert upgrade(settings) == upgrade(settings) == "0002"


def test_pragmas_are_applied(make_settings, tmp_path: Path) -> None:
    from sqlalchemy import text

    from app.db import Database

    settings = make_settings(SQLITE_SYNCHRONOUS="EXTRA", SQLITE_BUSY_TIMEOUT_MS="1234")
    upgrade(settings)
    db = Database(settings)
    try:
        with db.read() as session:
            pragma = {
                name: session.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        db.dispose()
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 1234, "synchronous": 3}


def test_downgrade_to_base_and_back(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    upgrade(settings)
    from app.db import make_engine

    engine = make_engine(settings)
    with engine.connect() as conn:
        config = alembic_config(settings)
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
        conn.commit()
    engine.dispose()
    assert "items" not in _columns(tmp_path / "data" / "app.db", "items")
    assert upgrade(settings) == "0002"


def test_models_match_the_migrated_schema(make_settings) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from app.db import make_engine

    settings = make_settings()
    upgrade(settings)
    engine = make_engine(settings)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_a_missing_database_that_existed_is_never_recreated_empty(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    upgrade(settings)
    database = tmp_path / "data" / "app.db"
    marker = tmp_path / "data" / ".app.db.created"
    assert marker.exists(), "the first creation leaves its marker"
    database.rename(tmp_path / "moved-away.db")
    with pytest.raises(DatabaseSetupError, match=r"app\.db is missing, but this volume held one"):
        upgrade(settings)
    assert not database.exists(), "an empty database was created"
    marker.unlink()  # starting afresh on purpose
    assert upgrade(settings) == head_revision()
