"""Read a request body as strict JSON, with the size limit enforced while it streams in."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from app.errors import ApiError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise ValueError("number out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate object key")
    return result


async def read_body(request: Request, limit: int) -> bytes:
    too_large = ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes")
    declared = request.headers.get("content-length")
    # isascii: "²".isdigit() is true and int() refuses it; more than 18 digits is too large anyway
    # (and int() refuses past 4300).
    digits = bool(declared) and declared.isascii() and declared.isdigit()
    if digits and (len(declared) > 18 or int(declared) > limit):
        raise too_large
    # Count what actually arrives: Content-Length may be missing (chunked) or wrong.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body:
        raise ApiError(400, "invalid_json", "request body is empty; a JSON object is expected")
    try:
        text = body.decode("utf-8")
        return json.loads(
            text, parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
        )
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "request body is not UTF-8") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "request body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and our own rejections above
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None
