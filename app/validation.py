"""Check an item payload: exact fields, sane sizes, strings any database can store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.errors import ApiError

NAME_MAX = 200
FIELDS = {"name", "data"}


@dataclass(frozen=True)
class ItemInput:
    name: str
    data: dict[str, Any]


def _invalid(message: str) -> ApiError:
    return ApiError(422, "validation_error", message)


def _storable(text: str) -> bool:
    # Lone surrogates (from "\ud800" escapes) can't be encoded; PostgreSQL text can't hold NUL.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_tree(data: Any, max_depth: int) -> None:
    # Iterative, so depth is checked without recursion of our own.
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list) and depth > max_depth:
            raise _invalid(f"data is nested deeper than {max_depth} levels")
        if isinstance(node, dict):
            for key, value in node.items():
                if not _storable(key):
                    raise _invalid("data contains a string that is not valid Unicode")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str) and not _storable(node):
            raise _invalid("data contains a string that is not valid Unicode")


def _plainly_valid(source: bytes, max_depth: int) -> bool:
    """Whether the JSON text alone shows that its tree passes _check_tree: each level of nesting
    opens with a bracket, so text with no more brackets than levels allowed nests no deeper
    (brackets in strings only add to the count), and strict UTF-8 text decodes to a lone surrogate
    only through a \\u escape."""
    return b"\\u" not in source and source.count(b"{") + source.count(b"[") <= max_depth


def validate_item(payload: Any, max_depth: int, source: bytes | None = None) -> ItemInput:
    """source: the JSON text payload was parsed from, if any; a plain one spares the walk of the tree."""
    if not isinstance(payload, dict):
        raise _invalid("body must be a JSON object with fields name and data")
    missing, extra = FIELDS - payload.keys(), payload.keys() - FIELDS
    if missing:
        raise _invalid("missing field(s): " + ", ".join(sorted(missing)))
    if extra:
        raise _invalid(f"unknown field(s): {len(extra)}; only name and data are accepted")
    name, data = payload["name"], payload["data"]
    if not isinstance(name, str):
        raise _invalid("name must be a string")
    if not 1 <= len(name) <= NAME_MAX:
        raise _invalid(f"name must be 1 to {NAME_MAX} characters long")
    if "\x00" in name or not _storable(name):
        raise _invalid("name must be valid Unicode without NUL characters")
    if not isinstance(data, dict):
        raise _invalid("data must be a JSON object")
    if source is None or not _plainly_valid(source, max_depth):
        _check_tree(data, max_depth)
    return ItemInput(name=name, data=data)
