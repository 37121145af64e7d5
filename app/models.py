"""Table definitions the queries use. The schema itself comes only from Alembic migrations."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table

from app.db_types import UTCDateTime, portable_json

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("data", portable_json(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_items_created_at_id", "created_at", "id"),
)
