"""JSON bodies built as text: stored item data is already compact JSON, so it is spliced in as is.

Timestamps travel as SQLite stores them (naive UTC, "YYYY-MM-DD HH:MM:SS.ffffff", the format
SQLAlchemy writes) and leave as ISO 8601 with a Z, always with microseconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.responses import Response


class JSONBytes(Response):
    """A response whose body is already JSON (no second encoding pass)."""

    media_type = "application/json"


def stored_time(value: datetime) -> str:
    """The storage text of an aware datetime (the same text SQLAlchemy writes for SQLite)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def api_time(stored: str) -> str:
    return stored.replace(" ", "T", 1) + "Z"


def json_text(value: Any) -> str:
    """Compact JSON text of validated item data."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # orjson stops at 64-bit integers and 255 levels; the standard encoder has neither limit.
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def item_json(item_id: str, name: str, data: str, created: str, updated: str) -> str:
    # Ids are canonical UUIDs and times are digits: only the name needs escaping.
    return (
        f'{{"id":"{item_id}","name":{orjson.dumps(name).decode()},"data":{data},'
        f'"created_at":"{api_time(created)}","updated_at":"{api_time(updated)}"}}'
    )


def page_json(items: list[str], next_cursor: str | None) -> bytes:
    cursor = "null" if next_cursor is None else f'"{next_cursor}"'
    return f'{{"items":[{",".join(items)}],"next_cursor":{cursor}}}'.encode()
