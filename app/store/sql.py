"""The store for databases other than SQLite (PostgreSQL): SQLAlchemy Core on the thread pool."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from starlette.concurrency import run_in_threadpool

from app.db import Database
from app.models import tokens
from app.pagination import Key, encode_cursor
from app.render import item_json, json_text, stored_time
from app.repository import items as repo
from app.settings import Settings
from app.validation import ItemInput


def _item(row: dict[str, Any]) -> str:
    created, updated = stored_time(row["created_at"]), stored_time(row["updated_at"])
    return item_json(row["id"], row["name"], json_text(row["data"]), created, updated)


class SqlStore:
    def __init__(self, settings: Settings) -> None:
        self.db = Database(settings)

    async def get_item(self, item_id: str) -> str | None:
        def work() -> dict[str, Any] | None:
            with self.db.read() as session:
                return repo.get_item(session, item_id)

        row = await run_in_threadpool(work)
        return _item(row) if row else None

    async def list_items(self, limit: int, after: Key | None) -> tuple[list[str], str | None]:
        def work() -> tuple[list[dict[str, Any]], bool]:
            with self.db.read() as session:
                return repo.list_items(session, limit, after)

        rows, more = await run_in_threadpool(work)
        cursor = encode_cursor(stored_time(rows[-1]["created_at"]), rows[-1]["id"]) if more else None
        return [_item(r) for r in rows], cursor

    async def create_item(self, item_id: str, item: ItemInput) -> str:
        def work() -> dict[str, Any]:
            with self.db.write() as session:
                return repo.create_item(session, item_id, item)

        return _item(await run_in_threadpool(work))

    async def replace_item(self, item_id: str, item: ItemInput) -> str | None:
        def work() -> dict[str, Any] | None:
            with self.db.write() as session:
                return repo.replace_item(session, item_id, item)

        row = await run_in_threadpool(work)
        return _item(row) if row else None

    async def delete_item(self, item_id: str) -> bool:
        def work() -> bool:
            with self.db.write() as session:
                return repo.delete_item(session, item_id)

        return await run_in_threadpool(work)

    async def token_scope(self, token_id: str) -> str | None:
        def work() -> str | None:
            with self.db.read() as session:
                query = select(tokens.c.scope).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                return session.execute(query).scalar()

        return await run_in_threadpool(work)

    async def health(self) -> str | None:
        def work() -> str | None:
            with self.db.read() as session:
                return session.execute(text("SELECT version_num FROM alembic_version")).scalar()

        return await run_in_threadpool(work)

    async def close(self) -> None:
        self.db.dispose()
