"""Engine and sessions: SQLite tuned for a single-host service (WAL, FULL sync), or PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings


class DatabaseSetupError(RuntimeError):
    """The database location is unusable before any SQL runs (e.g. its directory can't be made)."""


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for other engines and URI forms."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database.startswith("file:"):
        return None
    return Path(url.database)


def ensure_sqlite_directory(url: URL) -> None:
    path = sqlite_path(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseSetupError(
            f"database directory {path.parent} cannot be created: {exc.strerror or exc}"
        ) from None


def _sqlite_pragmas(engine: Engine, settings: Settings) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Python's sqlite3 would open transactions behind our back (and not for DDL); we issue
        # BEGIN ourselves in the "begin" hook below, so transactions mean what SQLAlchemy says.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(settings.sqlite_busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys = ON")
            # journal_mode is stored in the file: only switch when needed, so a read-only file
            # that is already in WAL mode still opens for reading.
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute(f"PRAGMA synchronous = {settings.sqlite_synchronous}")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that reads first and then
        # writes can fail at once with SQLITE_BUSY, which busy_timeout doesn't wait out.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(settings: Settings) -> Engine:
    url = settings.url
    if settings.is_sqlite:
        ensure_sqlite_directory(url)
        uri = bool(url.database and url.database.startswith("file:"))
        engine = create_engine(
            url,
            connect_args={
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
                "check_same_thread": False,
                "uri": uri,
            },
        )
        _sqlite_pragmas(engine, settings)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


@contextlib.contextmanager
def one_connection(settings: Settings) -> Iterator[Connection]:
    """One connection on an engine of its own, disposed after it (the command-line tools' single use)."""
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


class Database:
    """One engine and its session factory, created in the lifespan and disposed with it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time; queueing writers here is much cheaper than letting
        # them sleep in SQLite's busy handler. Other processes are still covered by busy_timeout.
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if settings.is_sqlite else contextlib.nullcontext()
        )

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        with self._write_lock, self.sessions() as session, session.begin():
            session.connection(execution_options={"sqlite_immediate": True})
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
