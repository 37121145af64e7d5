"""The items resource: /api/items and /api/items/{id}."""

from __future__ import annotations

import uuid

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.errors import ApiError
from app.ids import new_id
from app.json_body import parse_json, read_body
from app.pagination import decode_cursor, parse_limit
from app.render import JSONBytes, page_json
from app.routes.guard import authorize
from app.state import settings_of, store_of
from app.validation import ItemInput, validate_item

UUID_LENGTH = 36


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no such item")


def _item_id(request: Request) -> str:
    raw = request.path_params["item_id"]
    # Only the canonical form: other spellings of a UUID would be distinct URLs for one item.
    if len(raw) != UUID_LENGTH:
        raise _not_found()
    try:
        canonical = str(uuid.UUID(raw))
    except ValueError:
        raise _not_found() from None
    if canonical != raw.lower():
        raise _not_found()
    return canonical


def _found(body: str | None) -> Response:
    if body is None:
        raise _not_found()
    return JSONBytes(body.encode())


async def _item_input(request: Request) -> ItemInput:
    settings = settings_of(request)
    body = await read_body(request, settings.max_body_bytes)
    return validate_item(parse_json(body), settings.max_json_depth, body)


async def create_item(request: Request) -> Response:
    # Authorized before the body is read: an anonymous client can't make us buffer it.
    await authorize(request, "write")
    item = await _item_input(request)
    item_id = new_id()
    body = await store_of(request).create_item(item_id, item)
    return JSONBytes(body.encode(), status_code=201, headers={"Location": f"/api/items/{item_id}"})


async def list_items(request: Request) -> Response:
    await authorize(request, "read")
    settings = settings_of(request)
    params = request.query_params
    limit = parse_limit(params.get("limit"), settings.page_default_limit, settings.page_max_limit)
    cursor = params.get("cursor")
    after = decode_cursor(cursor) if cursor else None
    items, next_cursor = await store_of(request).list_items(limit, after)
    return JSONBytes(page_json(items, next_cursor))


async def get_item(request: Request) -> Response:
    await authorize(request, "read")
    return _found(await store_of(request).get_item(_item_id(request)))


async def replace_item(request: Request) -> Response:
    await authorize(request, "write")
    item_id = _item_id(request)
    item = await _item_input(request)
    return _found(await store_of(request).replace_item(item_id, item))


async def delete_item(request: Request) -> Response:
    await authorize(request, "write")
    if not await store_of(request).delete_item(_item_id(request)):
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
