"""Fixtures for the app tests: real SQLite files under tmp_path (a real PostgreSQL: tests/integration/app)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# support.app_helpers first: it silences starlette's notice about httpx before TestClient is imported.
from support.app_helpers import TEST_SECRET, TestClient, api_client

from app.migrate import upgrade
from app.settings import Settings, load_settings

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
