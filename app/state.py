"""What the lifespan puts on app.state, and how a request gets at it."""

from __future__ import annotations

from starlette.requests import Request

from app.errors import ApiError
from app.settings import Settings
from app.store import Store


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def store_of(request: Request) -> Store:
    store: Store | None = request.app.state.store
    if store is None:
        # The lifespan could not even set up the database (e.g. the directory can't be created).
        raise ApiError(503, "database_unavailable", request.app.state.db_error or "database not ready")
    return store


def signing_key_of(request: Request) -> bytes | None:
    key: bytes | None = request.app.state.signing_key
    return key
