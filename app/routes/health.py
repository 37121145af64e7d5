"""GET /health: is the database usable, and which schema revision and app version run."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.db import Database
from app.errors import ApiError, classify_database_error
from app.state import database_of, settings_of


def _probe(db: Database) -> str | None:
    with db.read() as session:
        revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if db.settings.is_sqlite:
        db.probe_writable()
    return revision


async def health(request: Request) -> JSONResponse:
    settings = settings_of(request)
    body: dict[str, object] = {
        "status": "ok",
        "database": "ok",
        "revision": None,
        "version": settings.app_version,
    }
    try:
        body["revision"] = await run_in_threadpool(_probe, database_of(request))
    except (SQLAlchemyError, ApiError) as exc:
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
