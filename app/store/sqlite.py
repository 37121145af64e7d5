"""The SQLite store: reads on the event loop, writes through the group-commit writer thread.

In WAL mode a reader never waits for the writer, and a primary-key read takes microseconds: doing
it on the event loop costs less than the hop to a thread pool would. Each read is one statement,
fetched to the end, so no read transaction stays open to hold back checkpoints.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine

from app.db import ensure_sqlite_directory, sqlite_path
from app.pagination import Key, encode_cursor
from app.render import item_json, json_text, stored_time
from app.settings import Settings
from app.store.group_commit import MAX_BATCH, GroupCommitWriter
from app.token_cache import TokenCache
from app.validation import ItemInput

# A reader waits only in rare moments (WAL recovery after a crash): never long, on the event loop.
READER_BUSY_TIMEOUT_MS = 1000

_GET = "SELECT id, name, data, created_at, updated_at FROM items WHERE id = ?"
_FIRST_PAGE = "SELECT id, name, data, created_at, updated_at FROM items ORDER BY created_at, id LIMIT ?"
# A row-value comparison walks ix_items_created_at_id straight to the key.
_NEXT_PAGE = (
    "SELECT id, name, data, created_at, updated_at FROM items"
    " WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?"
)
_INSERT = ("INSERT INTO items (id, name, data, created_at, updated_at) VALUES ", "(?, ?, ?, ?, ?)")
_UPDATE = "UPDATE items SET name = ?, data = ?, updated_at = ? WHERE id = ? RETURNING created_at"
_DELETE = "DELETE FROM items WHERE id = ? RETURNING id"
_TOKEN_SCOPE = "SELECT scope FROM tokens WHERE id = ? AND revoked_at IS NULL"  # noqa: S105 (SQL)
_REVISION = "SELECT version_num FROM alembic_version"


def _now() -> str:
    return stored_time(datetime.now(UTC))


class SqliteStore:
    def __init__(self, settings: Settings) -> None:
        url = settings.url
        ensure_sqlite_directory(url)
        # SQLAlchemy's own reading of the URL (file paths, file: URIs with mode=ro...), so the store
        # opens exactly the file the migrations and the tools open.
        engine = create_engine(url)
        args, kwargs = engine.dialect.create_connect_args(url)
        engine.dispose()
        self._args, self._kwargs = args, {**kwargs, "check_same_thread": False, "isolation_level": None}
        self._settings = settings
        # Opened on first use: a file that can't be opened answers 503 per request, as a write would.
        self._reader: sqlite3.Connection | None = None
        path = sqlite_path(url)
        self._tokens = TokenCache(path)
        self._writer = GroupCommitWriter(
            lambda: self._connect(settings.sqlite_busy_timeout_ms, reader=False),
            f"{path}-writer.lock" if path is not None else None,
            _INSERT,
        )

    def _connect(self, busy_timeout_ms: int, reader: bool) -> sqlite3.Connection:
        # The writer's batch INSERTs differ by their row count: cache a statement for each.
        conn = sqlite3.connect(
            *self._args, **self._kwargs, timeout=busy_timeout_ms / 1000, cached_statements=MAX_BATCH + 64
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not reader and conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._settings.sqlite_synchronous}")
            if reader:
                conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self._reader is None:
            self._reader = self._connect(READER_BUSY_TIMEOUT_MS, reader=True)
        return self._reader.execute(sql, params).fetchall()

    async def get_item(self, item_id: str) -> str | None:
        rows = self._read(_GET, (item_id,))
        return item_json(*rows[0]) if rows else None

    async def list_items(self, limit: int, after: Key | None) -> tuple[list[str], str | None]:
        if after is None:
            rows = self._read(_FIRST_PAGE, (limit + 1,))
        else:
            rows = self._read(_NEXT_PAGE, (stored_time(after[0]), after[1], limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = encode_cursor(rows[-1][3], rows[-1][0]) if more else None
        return [item_json(*row) for row in rows], cursor

    async def create_item(self, item_id: str, item: ItemInput) -> str:
        now, data = _now(), json_text(item.data)
        values = (item_id, item.name, data, now, now)
        await self._writer.insert(values)
        return item_json(*values)

    async def replace_item(self, item_id: str, item: ItemInput) -> str | None:
        now, data = _now(), json_text(item.data)
        params = (item.name, data, now, item_id)
        rows = await self._writer.submit(lambda conn: conn.execute(_UPDATE, params).fetchall())
        return item_json(item_id, item.name, data, rows[0][0], now) if rows else None

    async def delete_item(self, item_id: str) -> bool:
        rows = await self._writer.submit(lambda conn: conn.execute(_DELETE, (item_id,)).fetchall())
        return bool(rows)

    async def token_scope(self, token_id: str) -> str | None:
        scope = self._tokens.get(token_id)
        if scope is None:
            rows = self._read(_TOKEN_SCOPE, (token_id,))
            if not rows:
                return None
            scope = rows[0][0]
            self._tokens.put(token_id, scope)
        return scope

    async def health(self) -> str | None:
        rows = self._read(_REVISION, ())

        def probe(conn: sqlite3.Connection) -> None:
            # A read-only file still answers SELECTs: rewriting user_version with its own value
            # needs the write path, and changes nothing.
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version = {version}")

        await self._writer.submit(probe)
        return rows[0][0] if rows else None

    async def close(self) -> None:
        self._writer.stop()
        self._tokens.close()
        if self._reader is not None:
            self._reader.close()
