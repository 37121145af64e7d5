"""Every failure leaves as {"error": {"code", "message"}}; database trouble becomes a clear 503."""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.db import DatabaseSetupError

try:  # the PostgreSQL driver is a build option of the image
    from psycopg.errors import UndefinedTable
except ImportError:  # pragma: no cover - exercised by the image built without it

    class UndefinedTable(Exception):  # type: ignore[no-redef]
        """Stands in for psycopg's class where psycopg is not installed: never raised."""


log = logging.getLogger("app.errors")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


# SQLite reports its trouble in the message text; these fragments are stable across versions.
_SQLITE_PROBLEMS = (
    ("readonly", "database_read_only", "the database is read-only (file, directory or filesystem)"),
    ("unable to open", "database_unavailable", "the database file cannot be opened"),
    ("disk is full", "database_full", "the disk holding the database is full"),
    ("locked", "database_locked", "the database is busy; retry shortly"),
    ("busy", "database_locked", "the database is busy; retry shortly"),
    ("not a database", "database_corrupt", "the database file is damaged or not a database"),
    ("malformed", "database_corrupt", "the database file is damaged or not a database"),
    ("disk i/o error", "database_io_error", "the database file could not be read or written"),
    ("no such table", "database_not_migrated", "the schema is missing: run python -m app.migrate"),
)
_NOT_MIGRATED = ApiError(503, "database_not_migrated", "the schema is missing: run python -m app.migrate")


def classify_database_error(exc: BaseException) -> ApiError:
    """Map a driver failure to an ApiError whose message is ours (driver text may quote SQL or data)."""
    if isinstance(exc, DatabaseSetupError):
        return ApiError(503, "database_unavailable", str(exc))
    if isinstance(exc, IntegrityError | sqlite3.IntegrityError):
        return ApiError(409, "conflict", "the change conflicts with stored data")
    if isinstance(exc, DataError):
        return ApiError(422, "validation_error", "a value cannot be stored by the database")
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, UndefinedTable):
        return _NOT_MIGRATED
    text = str(orig).lower()
    for fragment, code, message in _SQLITE_PROBLEMS:
        if fragment in text and isinstance(orig, sqlite3.Error):
            headers = {"Retry-After": "1"} if code == "database_locked" else None
            return ApiError(503, code, message, headers)
    return ApiError(503, "database_error", "the database is unavailable")


async def handle_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def handle_database_error(request: Request, exc: Exception) -> Response:
    problem = classify_database_error(exc)
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    # The driver's own words go to the log (redacted there), not to the client.
    log.warning("%s %s: %s (%s)", request.method, request.url.path, problem.code, orig)
    return error_response(problem.status, problem.code, problem.message, problem.headers)


async def handle_server_error(_request: Request, _exc: Exception) -> Response:
    # Starlette re-raises after this, so the traceback is logged once, through the redaction filter.
    return error_response(500, "internal_error", "internal server error")


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    SQLAlchemyError: handle_database_error,
    sqlite3.Error: handle_database_error,
    DatabaseSetupError: handle_database_error,
    Exception: handle_server_error,
}
