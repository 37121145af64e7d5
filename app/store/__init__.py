"""Where the routes read and write: one Store per process, chosen by the database URL.

SQLite gets a store built for speed (reads on the event loop, writes group-committed by one
writer thread); every other database goes through SQLAlchemy on the thread pool. Both answer in
the same terms: JSON text for items and pages, so the routes never see rows.
"""

from __future__ import annotations

from typing import Protocol

from app.pagination import Key
from app.settings import Settings
from app.validation import ItemInput


class TokenRecord(Protocol):
    scope: str


class Store(Protocol):
    async def get_item(self, item_id: str) -> str | None: ...

    async def list_items(self, limit: int, after: Key | None) -> tuple[list[str], str | None]:
        """Items as JSON text, and the cursor of the next page (None on the last one)."""
        ...

    async def create_item(self, item_id: str, item: ItemInput) -> str: ...

    async def replace_item(self, item_id: str, item: ItemInput) -> str | None: ...

    async def delete_item(self, item_id: str) -> bool: ...

    async def token_scope(self, token_id: str) -> str | None:
        """The scope of an issued, unrevoked token; None for an unknown or revoked one."""
        ...

    async def health(self) -> str | None:
        """The schema revision, after proving the database can be written; raises when it can't."""
        ...

    async def close(self) -> None: ...


def open_store(settings: Settings) -> Store:
    if settings.is_sqlite:
        from app.store.sqlite import SqliteStore

        return SqliteStore(settings)
    from app.store.sql import SqlStore

    return SqlStore(settings)
