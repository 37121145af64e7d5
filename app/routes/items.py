"""The items resource: /api/items and /api/items/{id}."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.errors import ApiError
from app.json_body import read_json
from app.pagination import decode_cursor, encode_cursor, parse_limit
from app.repository import items as repo
from app.state import database_of, settings_of
from app.validation import ItemInput, validate_item


def _timestamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "data": row["data"],
        "created_at": _timestamp(row["created_at"]),
        "updated_at": _timestamp(row["updated_at"]),
    }


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no such item")


def _found(row: dict[str, Any] | None) -> Response:
    """The item as JSON, or 404 when the repository found none."""
    if row is None:
        raise _not_found()
    return JSONResponse(_public(row))


def _item_id(request: Request) -> str:
    raw = request.path_params["item_id"]
    # Only the canonical form: other spellings of a UUID would be distinct URLs for one item.
    try:
        canonical = str(uuid.UUID(raw))
    except ValueError:
        canonical = ""
    if len(raw) != 36 or canonical != raw.lower():
        raise _not_found()
    return canonical


async def _item_input(request: Request) -> ItemInput:
    settings = settings_of(request)
    payload = await read_json(request, settings.max_body_bytes)
    return validate_item(payload, settings.max_json_depth)


async def create_item(request: Request) -> Response:
    item = await _item_input(request)
    db = database_of(request)

    def work() -> dict[str, Any]:
        with db.write() as session:
            return repo.create_item(session, item)

    row = await run_in_threadpool(work)
    return JSONResponse(_public(row), status_code=201, headers={"Location": f"/api/items/{row['id']}"})


async def list_items(request: Request) -> Response:
    settings = settings_of(request)
    limit = parse_limit(
        request.query_params.get("limit"), settings.page_default_limit, settings.page_max_limit
    )
    cursor = request.query_params.get("cursor")
    after = decode_cursor(cursor) if cursor else None
    db = database_of(request)

    def work() -> tuple[list[dict[str, Any]], bool]:
        with db.read() as session:
            return repo.list_items(session, limit, after)

    rows, more = await run_in_threadpool(work)
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return JSONResponse({"items": [_public(r) for r in rows], "next_cursor": next_cursor})


async def get_item(request: Request) -> Response:
    item_id = _item_id(request)
    db = database_of(request)

    def work() -> dict[str, Any] | None:
        with db.read() as session:
            return repo.get_item(session, item_id)

    return _found(await run_in_threadpool(work))


async def replace_item(request: Request) -> Response:
    item_id = _item_id(request)
    item = await _item_input(request)
    db = database_of(request)

    def work() -> dict[str, Any] | None:
        with db.write() as session:
            return repo.replace_item(session, item_id, item)

    return _found(await run_in_threadpool(work))


async def delete_item(request: Request) -> Response:
    item_id = _item_id(request)
    db = database_of(request)

    def work() -> bool:
        with db.write() as session:
            return repo.delete_item(session, item_id)

    if not await run_in_threadpool(work):
        raise _not_found()
    return Response(status_code=204)


class Collection(HTTPEndpoint):
    # One endpoint per path, so a 405 lists every method the path has in its Allow header.
    get = staticmethod(list_items)
    post = staticmethod(create_item)


class Member(HTTPEndpoint):
    get = staticmethod(get_item)
    put = staticmethod(replace_item)
    delete = staticmethod(delete_item)


routes = [Route("/api/items", Collection), Route("/api/items/{item_id}", Member)]
