"""Items storage. Functions take the session explicitly: the caller owns the transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from app.models import items
from app.pagination import Key
from app.validation import ItemInput


def _now() -> datetime:
    return datetime.now(UTC)


def create_item(session: Session, item_id: str, item: ItemInput) -> dict[str, Any]:
    now = _now()
    row = {
        "id": item_id,
        "name": item.name,
        "data": item.data,
        "created_at": now,
        "updated_at": now,
    }
    session.execute(insert(items).values(**row))
    return row


def get_item(session: Session, item_id: str) -> dict[str, Any] | None:
    row = session.execute(select(items).where(items.c.id == item_id)).mappings().first()
    return dict(row) if row else None


def list_items(session: Session, limit: int, after: Key | None) -> tuple[list[dict[str, Any]], bool]:
    """Up to limit items in (created_at, id) order after the key; and whether more follow."""
    query = select(items).order_by(items.c.created_at, items.c.id).limit(limit + 1)
    if after is not None:
        # Spelled out rather than as a row-value comparison so each side gets the column's type.
        created, item_id = after
        query = query.where(
            or_(items.c.created_at > created, and_(items.c.created_at == created, items.c.id > item_id))
        )
    rows = [dict(r) for r in session.execute(query).mappings()]
    return rows[:limit], len(rows) > limit


def replace_item(session: Session, item_id: str, item: ItemInput) -> dict[str, Any] | None:
    result = session.execute(
        update(items)
        .where(items.c.id == item_id)
        .values(name=item.name, data=item.data, updated_at=_now())
        .returning(*items.c)
    )
    row = result.mappings().first()
    return dict(row) if row else None


def delete_item(session: Session, item_id: str) -> bool:
    result = session.execute(delete(items).where(items.c.id == item_id).returning(items.c.id))
    return result.first() is not None
