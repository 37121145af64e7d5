"""Table definitions the queries use. The schema itself comes only from Alembic migrations."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, text

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

# API tokens (app/tokens.py): the token itself is never stored; it is an HMAC of the id under a key
# derived from SECRET_KEY. A row makes a token valid; revoking stamps revoked_at.
tokens = Table(
    "tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("scope", String(10), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    # One active token per name, so a name is enough to revoke it; revoked names can be reused.
    Index(
        "ux_tokens_active_name",
        "name",
        unique=True,
        sqlite_where=text("revoked_at IS NULL"),
        postgresql_where=text("revoked_at IS NULL"),
    ),
)
