"""Opaque keyset cursors: base64url of the last row's [created_at ISO 8601, id]."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime

from app.errors import ApiError

Key = tuple[datetime, str]
# A cursor we hand out is about 100 characters; anything far longer is not ours, and refusing it
# before decoding keeps hostile cursors (deep nesting, huge numbers) away from the parsers.
CURSOR_MAX = 200
LIMIT_DIGITS = 18


def encode_cursor(created_stored: str, item_id: str) -> str:
    """From the storage text of created_at (naive UTC) and the id."""
    created = created_stored.replace(" ", "T", 1) + "+00:00"
    raw = json.dumps([created, item_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    bad = ApiError(400, "invalid_cursor", "cursor is not one this API returned")
    if len(cursor) > CURSOR_MAX or not cursor.isascii():
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, item_id = json.loads(raw)
        if not isinstance(created, str) or not isinstance(item_id, str):
            raise bad
        when = datetime.fromisoformat(created)
        if when.tzinfo is None:
            raise bad
        # Out-of-range instants (year 1 at +01:00) overflow here rather than in the query.
        when = when.astimezone(UTC)
        item_id = str(uuid.UUID(item_id))
    except (binascii.Error, ValueError, TypeError, OverflowError, RecursionError):
        raise bad from None
    return when, item_id


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw[:LIMIT_DIGITS]) < 1:
        raise ApiError(400, "invalid_limit", f"limit must be a positive integer (at most {maximum} used)")
    # Large limits are clamped rather than refused, so clients can ask for "as many as allowed".
    return maximum if len(raw) > LIMIT_DIGITS else min(int(raw), maximum)
