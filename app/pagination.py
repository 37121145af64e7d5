"""Opaque keyset cursors: base64url of the last row's (created_at, id)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from app.errors import ApiError

Key = tuple[datetime, str]


def encode_cursor(created_at: datetime, item_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), item_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    bad = ApiError(400, "invalid_cursor", "cursor is not one this API returned")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, item_id = json.loads(raw)
        when = datetime.fromisoformat(created)
        item_id = str(uuid.UUID(item_id))
    except (binascii.Error, ValueError, TypeError, AttributeError):
        raise bad from None
    if when.tzinfo is None:
        raise bad
    return when, item_id


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw[:18]) < 1:
        raise ApiError(400, "invalid_limit", f"limit must be a positive integer (at most {maximum} used)")
    # Large limits are clamped rather than refused, so clients can ask for "as many as allowed".
    return maximum if len(raw) > 18 else min(int(raw), maximum)
