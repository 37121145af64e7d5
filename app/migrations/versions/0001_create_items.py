"""Create the items table.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db_types import UTCDateTime, portable_json

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        # UUIDs as text: the same column on SQLite and PostgreSQL, and readable in a shell.
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("data", portable_json(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    # Keyset paging walks this index.
    op.create_index("ix_items_created_at_id", "items", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_items_created_at_id", table_name="items")
    op.drop_table("items")
