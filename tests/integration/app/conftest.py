"""Fixtures for the app tests on a real PostgreSQL (tests/support/ensure-postgres.sh, on loopback)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

# Imported first: it silences starlette's notice about httpx before the tests import TestClient.
from support import app_helpers  # noqa: F401
from support.hostkit import ROOT as REPO


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """DSN of a loopback PostgreSQL made by tests/support/ensure-postgres.sh (installs it if needed)."""
    result = subprocess.run(
        [str(REPO / "tests" / "support" / "ensure-postgres.sh")], capture_output=True, text=True, timeout=600
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
