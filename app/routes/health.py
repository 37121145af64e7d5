"""GET /health: is the database usable, and which schema revision and app version run."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.db import DatabaseSetupError
from app.errors import ApiError, classify_database_error
from app.state import settings_of, store_of


async def health(request: Request) -> JSONResponse:
    settings = settings_of(request)
    body: dict[str, object] = {
        "status": "ok",
        "database": "ok",
        "revision": None,
        "version": settings.app_version,
    }
    try:
        body["revision"] = await store_of(request).health()
    except (SQLAlchemyError, sqlite3.Error, DatabaseSetupError, ApiError) as exc:
        problem = exc if isinstance(exc, ApiError) else classify_database_error(exc)
        body.update(
            status="error", database="error", error={"code": problem.code, "message": problem.message}
        )
        return JSONResponse(body, status_code=503)
    if body["revision"] is None:
        error = {"code": "database_not_migrated", "message": "no schema revision: run python -m app.migrate"}
        body.update(status="error", database="error", error=error)
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


routes = [Route("/health", health, methods=["GET"])]
