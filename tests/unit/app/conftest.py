"""Fixtures for the app tests: real SQLite files under tmp_path, a real PostgreSQL when marked."""

from __future__ import annotations

import subprocess
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

# starlette's TestClient still works on httpx; its notice about httpx2 is not ours to act on.
warnings.filterwarnings("ignore", message="Using `httpx`")
from app_helpers import TEST_SECRET, api_client  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from app.migrate import upgrade  # noqa: E402
from app.settings import Settings, load_settings  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings from an explicit environment (never the test runner's), working dir tmp_path;
    SECRET_KEY is the suite's unless given."""

    def factory(**env: str) -> Settings:
        return load_settings(environ={"SECRET_KEY": TEST_SECRET, **env}, cwd=tmp_path)

    return factory


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    settings = make_settings()
    upgrade(settings)
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app on a migrated SQLite file; every request carries a write token."""
    with api_client(settings) as client:
        yield client


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """DSN of a loopback PostgreSQL made by scripts/ensure-postgres.sh (installs it if needed)."""
    result = subprocess.run(
        [str(REPO / "scripts" / "ensure-postgres.sh")], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        pytest.fail(f"ensure-postgres.sh failed:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    server = make_url(postgres_server)
    name = f"webapp_t_{uuid.uuid4().hex[:12]}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield server.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
