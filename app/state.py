"""What the lifespan puts on app.state, and how a request gets at it."""

from __future__ import annotations

from starlette.requests import Request

from app.db import Database
from app.errors import ApiError
from app.settings import Settings


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def database_of(request: Request) -> Database:
    db: Database | None = request.app.state.db
    if db is None:
        # The lifespan could not even set up the engine (e.g. the directory can't be created).
        raise ApiError(503, "database_unavailable", request.app.state.db_error or "database not ready")
    return db
